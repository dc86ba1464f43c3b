-- Every (integration code, setting name) a partner ever declared secret, kept whatever happens to
-- the integration afterwards. Templates keep the values of secret settings; masking them by the
-- integration's definition of the moment let a deleted and re-created definition, with the
-- setting no longer secret, reveal a value stored as secret (issue 20). Masking reads this
-- record too, and nothing deletes from it, so "secret once, secret for good" holds by
-- construction.
CREATE TABLE integration_secret_settings (
    partner_id   uuid NOT NULL REFERENCES partners (id),
    code         text NOT NULL,
    name         text NOT NULL,
    declared_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, code, name)
);

-- A trigger rather than a store call: every writer of `integrations` (API, command line, seeds,
-- a hand-run UPDATE) records its secrets in the same transaction, none can forget to.
CREATE FUNCTION integration_secret_settings_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO integration_secret_settings (partner_id, code, name)
    SELECT NEW.partner_id, NEW.code, s ->> 'name'
    FROM jsonb_array_elements(
        CASE WHEN jsonb_typeof(NEW.body -> 'settings') = 'array' THEN NEW.body -> 'settings'
             ELSE '[]'::jsonb END
    ) AS s
    WHERE jsonb_typeof(s) = 'object' AND s ->> 'name' IS NOT NULL
      AND (s -> 'secret') = 'true'::jsonb
    ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$;

CREATE TRIGGER integration_secret_settings_record AFTER INSERT OR UPDATE OF body ON integrations
    FOR EACH ROW EXECUTE FUNCTION integration_secret_settings_record();

-- What is secret today was secret before this migration too.
INSERT INTO integration_secret_settings (partner_id, code, name)
SELECT i.partner_id, i.code, s ->> 'name'
FROM integrations i, jsonb_array_elements(
    CASE WHEN jsonb_typeof(i.body -> 'settings') = 'array' THEN i.body -> 'settings'
         ELSE '[]'::jsonb END
) AS s
WHERE jsonb_typeof(s) = 'object' AND s ->> 'name' IS NOT NULL AND (s -> 'secret') = 'true'::jsonb
ON CONFLICT DO NOTHING;
