-- Registry answers remembered for the length of one import, so rows that share a SIREN (or a
-- SIRET) cost the public registry one request, not one each.

CREATE TABLE import_lookups (
    import_id   uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    siren       text NOT NULL,
    siret       text NOT NULL,         -- '' for the answer about the legal unit itself
    found       boolean NOT NULL,      -- the registry knows this SIRET (or, for '', this SIREN)
    record      jsonb,                 -- domain.company.CompanyRecord when found and a SIRET
    looked_up_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (import_id, siren, siret)
);
