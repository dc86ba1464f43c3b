-- Foundation: partners, onboardings (the database projection of each workflow), clients, e-mail log.

CREATE TABLE partners (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE onboardings (
    id               uuid PRIMARY KEY,
    partner_id       uuid NOT NULL REFERENCES partners (id),
    idempotency_key  text NOT NULL,
    request_hash     text NOT NULL,
    workflow_id      text NOT NULL UNIQUE,
    status           text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (partner_id, idempotency_key)
);
CREATE INDEX onboardings_partner_status ON onboardings (partner_id, status, created_at DESC);

CREATE TABLE clients (
    id                   uuid PRIMARY KEY,
    partner_id           uuid NOT NULL REFERENCES partners (id),
    onboarding_id        uuid NOT NULL UNIQUE REFERENCES onboardings (id),
    name                 text NOT NULL,
    email                text NOT NULL,
    language             text NOT NULL,
    notifications_muted  boolean NOT NULL DEFAULT true,
    status               text NOT NULL DEFAULT 'setting_up',
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clients_partner ON clients (partner_id, created_at DESC);

-- One row per e-mail the service means to send, written before the SMTP call and updated after:
-- a retried activity finds the row and never sends the same message twice.
CREATE TABLE email_log (
    onboarding_id  uuid NOT NULL REFERENCES onboardings (id),
    purpose        text NOT NULL,
    sequence       integer NOT NULL,
    recipient      text NOT NULL,
    subject        text NOT NULL,
    message_id     text NOT NULL UNIQUE,
    status         text NOT NULL CHECK (status IN ('pending', 'sent', 'suppressed', 'bounced')),
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    PRIMARY KEY (onboarding_id, purpose, sequence)
);
