-- When each onboarding's status last changed, for "stuck for longer than ..." lists (API, CLI,
-- metrics). `updated_at` cannot tell: it moves with every write, a repeated status included.
-- Backfilled from updated_at, the best estimate older rows have.
ALTER TABLE onboardings ADD COLUMN status_since timestamptz;
UPDATE onboardings SET status_since = updated_at;
ALTER TABLE onboardings ALTER COLUMN status_since SET DEFAULT now();
ALTER TABLE onboardings ALTER COLUMN status_since SET NOT NULL;
-- Only unfinished onboardings can be stuck: the index keeps to them, oldest status first.
CREATE INDEX onboardings_unfinished_since ON onboardings (status_since)
    WHERE status NOT IN ('COMPLETED', 'FAILED') AND NOT start_pending;
