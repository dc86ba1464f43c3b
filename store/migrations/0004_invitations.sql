-- The director's invitations: one row per sent invitation (a resend is a new sequence). Only the
-- token's hash is kept; the token itself exists only in the e-mail.

CREATE TABLE invitations (
    onboarding_id  uuid NOT NULL REFERENCES onboardings (id),
    sequence       integer NOT NULL,
    token_hash     text NOT NULL UNIQUE,
    recipient      text NOT NULL,
    expires_at     timestamptz NOT NULL,
    accepted_at    timestamptz,
    revoked_at     timestamptz,           -- superseded by a resend, or cancelled
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (onboarding_id, sequence)
);
