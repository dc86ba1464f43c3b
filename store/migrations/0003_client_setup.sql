-- The onboarding's real steps: company data, director, fiscal years and folders, collaborators,
-- subscription and integrations, each keyed so that re-running a step creates nothing twice.

ALTER TABLE clients
    ADD COLUMN first_name text,
    ADD COLUMN last_name text,
    ADD COLUMN siret text,
    ADD COLUMN company jsonb,                 -- domain.company.CompanyRecord or details by hand
    ADD COLUMN tags text[] NOT NULL DEFAULT '{}',
    ADD COLUMN case_manager text,
    ADD COLUMN national_number text,
    ADD COLUMN partner_national_number text;
-- One client per SIRET within a partner: the duplicate check, enforced where it cannot race.
CREATE UNIQUE INDEX clients_partner_siret ON clients (partner_id, siret) WHERE siret IS NOT NULL;
CREATE INDEX clients_partner_case_manager ON clients (partner_id, case_manager);

ALTER TABLE onboardings ADD COLUMN case_manager text;
CREATE INDEX onboardings_partner_case_manager ON onboardings (partner_id, case_manager);

CREATE TABLE client_users (
    id          uuid PRIMARY KEY,
    client_id   uuid NOT NULL REFERENCES clients (id),
    email       text NOT NULL,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    role        text NOT NULL DEFAULT 'director',
    themes      text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, email)
);

CREATE TABLE fiscal_years (
    client_id   uuid NOT NULL REFERENCES clients (id),
    starts_on   date NOT NULL,
    ends_on     date NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, starts_on),
    CHECK (ends_on > starts_on)
);

CREATE TABLE folders (
    id           uuid PRIMARY KEY,
    client_id    uuid NOT NULL REFERENCES clients (id),
    path         text NOT NULL,
    parent_path  text,
    name         text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('template', 'month')),
    position     integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- The path is the folder's natural key: creating the same tree again inserts nothing.
    UNIQUE (client_id, path),
    FOREIGN KEY (client_id, parent_path) REFERENCES folders (client_id, path)
);

CREATE TABLE client_collaborators (
    client_id   uuid NOT NULL REFERENCES clients (id),
    user_id     uuid NOT NULL REFERENCES partner_users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, user_id)
);

CREATE TABLE client_subscriptions (
    client_id       uuid PRIMARY KEY REFERENCES clients (id),
    plan            text,
    add_ons         text[] NOT NULL DEFAULT '{}',
    payer           text NOT NULL CHECK (payer IN ('partner', 'client')),
    billing_period  text NOT NULL CHECK (billing_period IN ('monthly', 'annual')),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE client_integrations (
    client_id     uuid NOT NULL REFERENCES clients (id),
    code          text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('redirection', 'automation')),
    state         text NOT NULL CHECK (state IN ('pending', 'connected', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    external_ref  text,
    connected_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, code)
);
