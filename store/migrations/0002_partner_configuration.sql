-- Partner configuration: users and API keys, catalogs, configuration templates, billing defaults,
-- and the setup snapshot each client keeps.

ALTER TABLE partners ADD COLUMN settings jsonb NOT NULL DEFAULT '{}'::jsonb;

CREATE TABLE partner_users (
    id          uuid PRIMARY KEY,
    partner_id  uuid NOT NULL REFERENCES partners (id),
    email       text NOT NULL,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('administrator', 'client_manager', 'accountant')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- (partner_id, id) lets other tables require that a user belongs to *their* partner.
    UNIQUE (partner_id, id)
);
CREATE UNIQUE INDEX partner_users_email ON partner_users (partner_id, lower(email));

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    partner_id    uuid NOT NULL,
    user_id       uuid NOT NULL,
    name          text NOT NULL,
    prefix        text NOT NULL,          -- shown in listings so a key can be recognised
    secret_hash   text NOT NULL UNIQUE,   -- sha256 of the whole key; the key itself is never kept
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    FOREIGN KEY (partner_id, user_id) REFERENCES partner_users (partner_id, id) ON DELETE CASCADE
);

CREATE TABLE plans (
    partner_id  uuid NOT NULL REFERENCES partners (id),
    code        text NOT NULL,
    body        jsonb NOT NULL,           -- domain.setup.Plan, add-ons included
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, code)
);

CREATE TABLE integrations (
    partner_id  uuid NOT NULL REFERENCES partners (id),
    code        text NOT NULL,
    body        jsonb NOT NULL,           -- domain.setup.Integration
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, code)
);

CREATE TABLE folder_trees (
    partner_id  uuid NOT NULL REFERENCES partners (id),
    code        text NOT NULL,
    body        jsonb NOT NULL,           -- domain.folders.FolderTreeTemplate
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, code)
);

CREATE TABLE configuration_templates (
    id           uuid PRIMARY KEY,
    partner_id   uuid NOT NULL REFERENCES partners (id),
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    is_default   boolean NOT NULL DEFAULT false,
    version      integer NOT NULL DEFAULT 1,
    body         jsonb NOT NULL,          -- domain.setup.TemplateBody
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- At most one default per partner. Deferrable, so one statement can move the flag from one
    -- row to another whatever order PostgreSQL visits them in.
    CONSTRAINT one_default_template EXCLUDE USING btree (partner_id WITH =) WHERE (is_default)
        DEFERRABLE INITIALLY DEFERRED
);
CREATE UNIQUE INDEX configuration_templates_name ON configuration_templates (partner_id, lower(name));

-- And at least one: checked at commit, so a transaction may move the flag or replace the default
-- before it ends, but never end without one. A partner is created with its first template.
CREATE FUNCTION check_one_default_template() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    p uuid := COALESCE(NEW.partner_id, OLD.partner_id);
    defaults integer;
BEGIN
    SELECT count(*) FILTER (WHERE is_default) INTO defaults
      FROM configuration_templates WHERE partner_id = p;
    IF defaults <> 1 THEN
        RAISE EXCEPTION 'partner % must have exactly one default template (has %)', p, defaults
            USING ERRCODE = 'check_violation', CONSTRAINT = 'one_default_template';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER one_default_template_at_commit
    AFTER INSERT OR UPDATE OR DELETE ON configuration_templates
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION check_one_default_template();

-- Every version a template ever had, so an onboarding's recorded (template, version) stays
-- readable after later edits or deletion.
CREATE TABLE configuration_template_versions (
    template_id  uuid NOT NULL,
    version      integer NOT NULL,
    partner_id   uuid NOT NULL REFERENCES partners (id),
    name         text NOT NULL,
    body         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, version)
);

CREATE TABLE billing_defaults (
    partner_id  uuid PRIMARY KEY REFERENCES partners (id),
    body        jsonb NOT NULL,           -- domain.setup.BillingDefaults
    updated_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE clients
    ADD COLUMN template_id uuid,
    ADD COLUMN template_version integer,
    ADD COLUMN setup jsonb;               -- domain.setup.EffectiveSetup, secrets masked

ALTER TABLE onboardings
    ADD COLUMN created_by uuid,
    ADD COLUMN secrets jsonb NOT NULL DEFAULT '{}'::jsonb;  -- request's secret settings, by app
