-- Webhooks (Standard Webhooks): a partner's endpoints, and a transactional outbox of deliveries.
-- A delivery row is written in the same transaction as the state change it reports (an
-- onboarding's status, an invitation, an import), one per subscribed endpoint of that partner,
-- so an event is never lost nor reported for a change that was rolled back. The worker's
-- delivery loop claims rows with FOR UPDATE SKIP LOCKED and a lease.
--
-- The events are written by triggers on the tables that hold the state (onboardings,
-- invitations, email_log, import_rows), not by the Python that writes them: every writer, today's
-- and tomorrow's (activities, API routes, the status projection's own rework), reports its
-- changes without knowing webhooks exist, and a change is reported only when a row really
-- changed (a retried write of the same status emits nothing).

CREATE TABLE webhook_endpoints (
    id                   uuid PRIMARY KEY,
    partner_id           uuid NOT NULL REFERENCES partners (id),
    url                  text NOT NULL,
    event_types          text[] NOT NULL,
    -- whsec_<base64>: needed in clear to sign, like integrations' secrets; never selected by
    -- the functions that list endpoints.
    secret               text NOT NULL,
    -- During a rotation the old secret signs too, until previous_secret_until.
    previous_secret      text,
    previous_secret_until timestamptz,
    created_by           uuid,
    created_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at           timestamptz,
    -- Set by the first failed attempt of a run of failures, cleared by a success.
    failing_since        timestamptz,
    disabled_at          timestamptz,
    disabled_reason      text,
    -- The administrators' e-mail about the disabling went out (sent once, retried until then).
    disabled_notified_at timestamptz
);
CREATE INDEX webhook_endpoints_partner ON webhook_endpoints (partner_id, created_at)
    WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id),
    partner_id       uuid NOT NULL REFERENCES partners (id),
    -- The webhook-id header: one per event, the same for every endpoint and every retry.
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    -- Deliveries with the same key go to an endpoint one at a time, in seq order (an
    -- onboarding's id, an import's id).
    ordering_key     text NOT NULL,
    seq              bigserial,
    payload          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- Retries stop this long after it (a redelivery starts a new window).
    window_started_at timestamptz NOT NULL DEFAULT now(),
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_status_code integer,
    last_latency_ms  integer,
    last_error       text,
    delivered_at     timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, ordering_key, seq)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq DESC);

-- One row per attempt, written when it starts: an attempt whose worker died has no answer.
CREATE TABLE webhook_attempts (
    delivery_id  uuid NOT NULL REFERENCES webhook_deliveries (id),
    attempt      integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    status_code  integer,
    latency_ms   integer,
    error        text,
    PRIMARY KEY (delivery_id, attempt)
);

-- import.finished is reported once, when the import's last row settles (checked only while the
-- partner has an endpoint listening for it).
ALTER TABLE imports ADD COLUMN finished_at timestamptz;

-- ---- emitting ----------------------------------------------------------------------------------

-- One delivery per live endpoint of the partner subscribed to the event type, all with the same
-- webhook-id. The endpoints are chosen by partner in the statement: no other partner's endpoint
-- can receive the event.
CREATE FUNCTION webhook_emit(p_partner uuid, p_type text, p_key text, p_data jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    event_id text := 'msg_' || replace(gen_random_uuid()::text, '-', '');
BEGIN
    INSERT INTO webhook_deliveries
        (id, endpoint_id, partner_id, event_id, event_type, ordering_key, payload)
    SELECT gen_random_uuid(), e.id, e.partner_id, event_id, p_type, p_key, p_data
    FROM webhook_endpoints e
    WHERE e.partner_id = p_partner AND e.deleted_at IS NULL AND e.disabled_at IS NULL
      AND p_type = ANY (e.event_types);
END $$;

-- import.finished, once: every valid row has an outcome (skipped, or an onboarding past
-- SETTING_UP). The import's row is locked first, so of two rows settling at the same moment the
-- second to commit sees the first, and the import is finished by exactly one of them.
CREATE FUNCTION webhook_finish_import(p_import uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    imp record;
BEGIN
    SELECT partner_id, finished_at INTO imp FROM imports WHERE id = p_import FOR UPDATE;
    IF NOT FOUND OR imp.finished_at IS NOT NULL THEN
        RETURN;
    END IF;
    -- Newest rows first: while an import runs, its last rows are the ones not started yet, so
    -- the search for an open row stops at once instead of reading the whole file.
    PERFORM 1 FROM import_rows r LEFT JOIN onboardings o ON o.id = r.onboarding_id
    WHERE r.import_id = p_import AND r.request IS NOT NULL AND r.skipped IS NULL
      AND (o.id IS NULL OR o.status = 'SETTING_UP')
    ORDER BY r.row DESC LIMIT 1;
    IF FOUND THEN
        RETURN;
    END IF;
    UPDATE imports SET finished_at = now() WHERE id = p_import;
    PERFORM webhook_emit(imp.partner_id, 'import.finished', p_import::text, jsonb_build_object(
        'import_id', p_import,
        'statuses', coalesce((SELECT jsonb_object_agg(status, n) FROM (
            SELECT status, count(*) AS n FROM onboardings WHERE import_id = p_import
            GROUP BY status) s), '{}'::jsonb),
        'skipped', (SELECT count(*) FROM import_rows
                    WHERE import_id = p_import AND skipped IS NOT NULL)));
END $$;

CREATE FUNCTION webhook_onboarding_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- SETTING_UP (the start, or a step resumed) is not reported; WAITING_FOR_UNMUTE is listed
    -- ahead of the status itself, so its event flows the day the workflow writes it.
    IF NEW.status IN ('READY', 'AWAITING_COMPANY_DETAILS', 'WAITING_FOR_UNMUTE',
                      'NEEDS_ATTENTION', 'FAILED', 'COMPLETED') THEN
        PERFORM webhook_emit(NEW.partner_id, 'onboarding.' || lower(NEW.status), NEW.id::text,
            jsonb_build_object('onboarding_id', NEW.id, 'status', NEW.status,
                               'previous_status', OLD.status));
    END IF;
    -- Only for a partner listening: the check locks the import's row, which would otherwise
    -- queue every status write of a large import behind one another for nothing.
    IF NEW.import_id IS NOT NULL AND NEW.status <> 'SETTING_UP' AND EXISTS (
        SELECT 1 FROM webhook_endpoints
        WHERE partner_id = NEW.partner_id AND deleted_at IS NULL AND disabled_at IS NULL
          AND 'import.finished' = ANY (event_types)
    ) THEN
        PERFORM webhook_finish_import(NEW.import_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER webhook_onboarding_status AFTER UPDATE OF status ON onboardings
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION webhook_onboarding_status();

CREATE FUNCTION webhook_import_row_skipped() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM imports i JOIN webhook_endpoints e ON e.partner_id = i.partner_id
        WHERE i.id = NEW.import_id AND e.deleted_at IS NULL AND e.disabled_at IS NULL
          AND 'import.finished' = ANY (e.event_types)
    ) THEN
        PERFORM webhook_finish_import(NEW.import_id);
    END IF;
    RETURN NULL;
END $$;

-- A skipped row may be the import's last open one (a duplicate SIRET, a cancelled import).
CREATE TRIGGER webhook_import_row_skipped AFTER UPDATE OF skipped ON import_rows
    FOR EACH ROW WHEN (NEW.skipped IS NOT NULL AND OLD.skipped IS NULL)
    EXECUTE FUNCTION webhook_import_row_skipped();

CREATE FUNCTION webhook_invitation_event(p_onboarding uuid, p_type text, p_sequence integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    partner uuid;
BEGIN
    SELECT partner_id INTO partner FROM onboardings WHERE id = p_onboarding;
    IF FOUND THEN
        -- Keyed by the onboarding, like its status events: "sent" reaches a partner before
        -- "completed". Ids and the invitation's number only, never the director's address.
        PERFORM webhook_emit(partner, p_type, p_onboarding::text, jsonb_build_object(
            'onboarding_id', p_onboarding, 'invitation_sequence', p_sequence));
    END IF;
END $$;

CREATE FUNCTION webhook_invitation_accepted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_invitation_event(NEW.onboarding_id, 'invitation.accepted', NEW.sequence);
    RETURN NULL;
END $$;

CREATE TRIGGER webhook_invitation_accepted AFTER UPDATE OF accepted_at ON invitations
    FOR EACH ROW WHEN (OLD.accepted_at IS NULL AND NEW.accepted_at IS NOT NULL)
    EXECUTE FUNCTION webhook_invitation_accepted();

-- The e-mail log says what happened to each message: an invitation sent (its log sequence is
-- invitation * 100 + reminder), an invitation or a reminder bounced, an expiry notice written
-- (the workflow decided the invitation expired).
CREATE FUNCTION webhook_email_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    previous text := CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END;
BEGIN
    IF NEW.purpose = 'invitation' AND NEW.status = 'sent' AND previous IS DISTINCT FROM 'sent' THEN
        PERFORM webhook_invitation_event(NEW.onboarding_id, 'invitation.sent', NEW.sequence / 100);
    ELSIF NEW.purpose IN ('invitation', 'reminder') AND NEW.status = 'bounced'
          AND previous IS DISTINCT FROM 'bounced' THEN
        PERFORM webhook_invitation_event(NEW.onboarding_id, 'invitation.bounced',
                                         NEW.sequence / 100);
    ELSIF NEW.purpose = 'expired' AND TG_OP = 'INSERT' THEN
        PERFORM webhook_invitation_event(NEW.onboarding_id, 'invitation.expired',
                                         NEW.sequence / 100);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER webhook_email_event AFTER INSERT OR UPDATE OF status ON email_log
    FOR EACH ROW EXECUTE FUNCTION webhook_email_event();
