-- Bulk imports: the file's rows, validated once, each onboarded at most once.

CREATE TABLE imports (
    id               uuid PRIMARY KEY,
    partner_id       uuid NOT NULL REFERENCES partners (id),
    idempotency_key  text NOT NULL,
    request_hash     text NOT NULL,
    workflow_id      text NOT NULL UNIQUE,
    filename         text NOT NULL,
    total_rows       integer NOT NULL,
    valid_rows       integer NOT NULL,
    created_by       uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (partner_id, idempotency_key)
);

CREATE TABLE import_rows (
    import_id      uuid NOT NULL REFERENCES imports (id),
    row            integer NOT NULL,
    siret          text,
    request        jsonb,                 -- domain.onboarding.OnboardingCreate; null when invalid
    errors         jsonb NOT NULL DEFAULT '[]'::jsonb,
    onboarding_id  uuid,
    skipped        text,                  -- why a valid row was not onboarded (already a client)
    PRIMARY KEY (import_id, row)
);

ALTER TABLE onboardings ADD COLUMN import_id uuid;
CREATE INDEX onboardings_import ON onboardings (import_id, status) WHERE import_id IS NOT NULL;
