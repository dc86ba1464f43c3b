-- Integrations after onboarding: a firm adds, reconfigures and removes a client's apps at any
-- time, each change run by its own workflow (workflows/integrations.py). The client's row says
-- where the app stands now; a change row says who asked what, when, and how it ended.
ALTER TABLE client_integrations DROP CONSTRAINT client_integrations_state_check;
ALTER TABLE client_integrations ADD CONSTRAINT client_integrations_state_check
    CHECK (state IN ('pending', 'connecting', 'connected', 'failed', 'disconnecting', 'removed'))
    NOT VALID;
-- Checked apart, under a lock that lets writes go on (the rows already meet it: the new check
-- only widens the old one).
ALTER TABLE client_integrations VALIDATE CONSTRAINT client_integrations_state_check;
-- The change the row's state is about; NULL: the onboarding's own connection.
ALTER TABLE client_integrations ADD COLUMN change_id uuid;
-- The settings last asked for, secrets masked; NULL: those of the client's setup snapshot.
ALTER TABLE client_integrations ADD COLUMN settings jsonb;

CREATE TABLE client_integration_changes (
    id               uuid PRIMARY KEY,
    client_id        uuid NOT NULL REFERENCES clients (id),
    code             text NOT NULL,
    action           text NOT NULL CHECK (action IN ('add', 'reconfigure', 'remove')),
    -- Secrets masked: this is what the history shows.
    settings         jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The real values of the app's secret settings for this change, read by the connect
    -- activity only (as onboardings.secrets); never selected by a listing, scrubbed by erasure.
    secrets          jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The caller's Idempotency-Key: the same request again is the same change.
    idempotency_key  text,
    request_hash     text NOT NULL,
    requested_by     uuid REFERENCES partner_users (id) ON DELETE SET NULL,
    requested_at     timestamptz NOT NULL DEFAULT now(),
    state            text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
    error            text,
    finished_at      timestamptz,
    UNIQUE (client_id, idempotency_key)
);
CREATE INDEX client_integration_changes_client ON client_integration_changes
    (client_id, requested_at DESC, id);
-- At most one change of an app of a client runs at a time: a second one waits its turn (409).
CREATE UNIQUE INDEX client_integration_changes_running ON client_integration_changes
    (client_id, code) WHERE state = 'running';
