-- Belgian clients: the enterprise number (KBO/BCE, 10 digits) beside the SIRET, with the same
-- duplicate rule, and the KBO Open Data tables the lookup reads (issue 26).

ALTER TABLE clients ADD COLUMN enterprise_number text
    CHECK (enterprise_number ~ '^[01][0-9]{9}$');
-- One client per enterprise number within a partner, enforced where it cannot race.
CREATE UNIQUE INDEX clients_partner_enterprise_number ON clients (partner_id, enterprise_number)
    WHERE enterprise_number IS NOT NULL;

-- The KBO Open Data, as its CSV files spell it (numbers with dots, dates dd-mm-yyyy read as
-- dates): `onboarding kbo load` rebuilds these tables under other names and swaps them in one
-- transaction, so the columns follow the files' order for COPY.
CREATE TABLE kbo_enterprise (
    enterprise_number    text NOT NULL,   -- "0202.239.951"
    status               text NOT NULL,   -- AC active, ST stopped
    juridical_situation  text,
    type_of_enterprise   text,            -- 1 natural person, 2 legal person
    juridical_form       text,
    juridical_form_cac   text,
    start_date           date
);
CREATE UNIQUE INDEX kbo_enterprise_pkey_idx ON kbo_enterprise (enterprise_number);

CREATE TABLE kbo_denomination (
    entity_number         text NOT NULL,
    language              text NOT NULL,  -- 0 unknown, 1 FR, 2 NL, 3 DE, 4 EN
    type_of_denomination  text NOT NULL,  -- 001 name, 002 abbreviation, 003 commercial name
    denomination          text NOT NULL
);
CREATE INDEX kbo_denomination_entity_idx ON kbo_denomination (entity_number);

CREATE TABLE kbo_address (
    entity_number       text NOT NULL,
    type_of_address     text NOT NULL,    -- REGO registered office, BAET establishment...
    country_nl          text,
    country_fr          text,
    zipcode             text,
    municipality_nl     text,
    municipality_fr     text,
    street_nl           text,
    street_fr           text,
    house_number        text,
    box                 text,
    extra_address_info  text,
    date_striking_off   date
);
CREATE INDEX kbo_address_entity_idx ON kbo_address (entity_number);

-- The data set in service: meta.csv of the last full load, and the updates applied since.
CREATE TABLE kbo_extract (
    extract_number     integer NOT NULL,
    extract_type       text NOT NULL CHECK (extract_type IN ('full', 'update')),
    snapshot_date      date NOT NULL,
    extract_timestamp  timestamp NOT NULL,
    version            text,
    rows               jsonb NOT NULL,    -- file -> rows read
    applied_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (extract_type, extract_number)
);
