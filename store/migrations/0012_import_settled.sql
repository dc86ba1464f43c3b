-- A bulk import learns which of its rows settled (ready, waiting for a person, failed) from
-- here: the status projection marks the row once, with the first settling status, in the same
-- statement. Children used to signal the import, and a stream of signals kept it from
-- continuing as new.
ALTER TABLE import_rows ADD COLUMN settled_status text;
ALTER TABLE import_rows ADD COLUMN settled_at timestamptz;
CREATE INDEX import_rows_onboarding ON import_rows (onboarding_id) WHERE onboarding_id IS NOT NULL;
