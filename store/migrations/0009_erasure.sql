-- Right to erasure (DELETE /v1/clients/{id}/personal-data): one row per erased client, the audit
-- of who erased it, when, what became of its onboarding and how many rows of each table were
-- scrubbed. It names tables and counts rows, never values: the audit holds no personal data.

CREATE TABLE erasures (
    id            uuid PRIMARY KEY,
    partner_id    uuid NOT NULL REFERENCES partners (id),
    client_id     uuid NOT NULL UNIQUE REFERENCES clients (id),
    requested_by  uuid NOT NULL,         -- the administrator (partner_users.id); no FK: the
                                         -- record outlives the user
    onboarding    text NOT NULL CHECK (onboarding IN ('cancelled', 'not_running')),
    tables        jsonb NOT NULL,        -- {"clients": 1, "email_log": 3, ...}: rows scrubbed
    erased_at     timestamptz NOT NULL DEFAULT now()
);
