-- The registry's answer a client was made from, the re-lookups a person asked for since, and the
-- company fields staff corrected, each dated with who did it (issue 23). The creation record is
-- written by the create-client activity with the record the onboarding gives it; clients created
-- before this migration have none ("no record kept": their look-up date was never stored).
CREATE TABLE client_company_lookups (
    id bigserial PRIMARY KEY,
    client_id uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('creation', 'relookup')),
    -- Which register answered (recherche-entreprises, insee, kbo-open-data) or 'manual' when a
    -- person gave the company details instead.
    source text NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('found', 'unknown', 'unreachable')),
    fields jsonb,
    looked_up_at timestamptz NOT NULL DEFAULT now(),
    requested_by uuid REFERENCES partner_users (id) ON DELETE SET NULL
);
-- One creation record per client: a retried create-client activity keeps the first.
CREATE UNIQUE INDEX client_company_lookups_creation
    ON client_company_lookups (client_id) WHERE kind = 'creation';
CREATE INDEX client_company_lookups_latest ON client_company_lookups (client_id, id DESC);

CREATE TABLE client_company_corrections (
    id bigserial PRIMARY KEY,
    client_id uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    field text NOT NULL CHECK (field IN ('name', 'address', 'legal_form')),
    old_value text,
    new_value text,
    -- 'registry': a person applied what a re-lookup found; 'person': typed by a person.
    origin text NOT NULL CHECK (origin IN ('person', 'registry')),
    corrected_by uuid REFERENCES partner_users (id) ON DELETE SET NULL,
    corrected_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX client_company_corrections_latest ON client_company_corrections (client_id, id DESC);
