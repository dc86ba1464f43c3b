-- The firm's console: passwordless sign-in links and server-side sessions (app/sign_in.py).
-- Only hashes of the link tokens and session ids are kept: a copy of this table signs nobody in.

CREATE TABLE console_sign_in_links (
    token_hash  text PRIMARY KEY,
    partner_id  uuid NOT NULL,
    user_id     uuid NOT NULL,
    next_path   text,                   -- where to land after signing in (our own paths only)
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,            -- single use: set by the one UPDATE that consumes it
    FOREIGN KEY (partner_id, user_id) REFERENCES partner_users (partner_id, id) ON DELETE CASCADE
);
CREATE INDEX console_sign_in_links_expires ON console_sign_in_links (expires_at);

CREATE TABLE console_sessions (
    id_hash       text PRIMARY KEY,
    partner_id    uuid NOT NULL,
    user_id       uuid NOT NULL,
    csrf_token    text NOT NULL,        -- sent back by every form of the session
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),   -- idle expiry counts from here
    expires_at    timestamptz NOT NULL, -- absolute expiry, whatever the activity
    ended_at      timestamptz,          -- signed out or revoked
    -- Signed in from the link, the second factor still to give: it opens no page but that one.
    second_factor_due boolean NOT NULL DEFAULT false,
    FOREIGN KEY (partner_id, user_id) REFERENCES partner_users (partner_id, id) ON DELETE CASCADE
);
CREATE INDEX console_sessions_user ON console_sessions (user_id) WHERE ended_at IS NULL;

-- The optional second factor (TOTP). The secret is sealed with the payload keys (core/codec.py,
-- key id inside, so a key rotation keeps it readable); the last step used makes a code single-use.
CREATE TABLE console_totp (
    user_id       uuid PRIMARY KEY,
    partner_id    uuid NOT NULL,
    secret_sealed text NOT NULL,
    confirmed_at  timestamptz,          -- null: being set up, not asked at sign-in yet
    last_step     bigint,
    FOREIGN KEY (partner_id, user_id) REFERENCES partner_users (partner_id, id) ON DELETE CASCADE
);
