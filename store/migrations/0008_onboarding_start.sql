-- An onboarding claimed by POST /v1/onboardings is only real once Temporal accepted its workflow.
-- Until then it is `start_pending`: invisible to lists and reads, and a retried POST with the same
-- Idempotency-Key finishes the start. A start Temporal refused releases the claim (the row goes).

ALTER TABLE onboardings ADD COLUMN start_pending boolean NOT NULL DEFAULT false;
