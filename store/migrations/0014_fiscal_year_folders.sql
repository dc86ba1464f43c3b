-- Later fiscal years: a firm adds the next fiscal year of a client after its onboarding, and a
-- workflow (FiscalYearWorkflow) creates its month folders. Where that work stands is kept on the
-- year itself. NULL state: the onboarding's year, whose folders follow the onboarding's status.
ALTER TABLE fiscal_years
    ADD COLUMN folders_state text CHECK (folders_state IN ('creating', 'done', 'failed')),
    -- An error type in our words (FolderTreeMissing...), never a remote text or personal data.
    ADD COLUMN folders_failure text,
    ADD COLUMN workflow_id text,
    ADD COLUMN requested_by uuid REFERENCES partner_users (id) ON DELETE SET NULL,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- No two fiscal years of a client overlap, whoever inserts them (the API, the onboarding's folder
-- step, two requests at once). An exclusion constraint would need btree_gist, an extension the
-- embedded PostgreSQL lacks; a trigger under a per-client transaction lock does the same: the
-- second of two concurrent inserts waits for the first to commit, then sees its row (each query
-- of a volatile function takes a fresh snapshot in READ COMMITTED).
CREATE FUNCTION fiscal_years_refuse_overlap() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    other record;
BEGIN
    PERFORM pg_advisory_xact_lock(1014, hashtext(NEW.client_id::text));
    SELECT starts_on, ends_on INTO other
    FROM fiscal_years
    WHERE client_id = NEW.client_id
      -- The same start is the same year: ON CONFLICT (client_id, starts_on) decides about it.
      AND starts_on <> NEW.starts_on
      AND daterange(starts_on, ends_on, '[]') && daterange(NEW.starts_on, NEW.ends_on, '[]')
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'fiscal year % to % overlaps the fiscal year % to %',
            NEW.starts_on, NEW.ends_on, other.starts_on, other.ends_on
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'fiscal_years_no_overlap';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER fiscal_years_no_overlap
    BEFORE INSERT OR UPDATE OF starts_on, ends_on ON fiscal_years
    FOR EACH ROW EXECUTE FUNCTION fiscal_years_refuse_overlap();
