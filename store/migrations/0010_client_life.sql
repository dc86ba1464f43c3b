-- A client's life after onboarding: its postal address, where its invitation stands (for the
-- "My clients" list), and every subscription it had, dated.

-- Seed 003's optional postal address, on one line as the onboarding request carries it.
ALTER TABLE clients ADD COLUMN address text;

-- The invitation as the onboarding workflow last reported it (store.clients.record_invitation):
-- the list filters and sorts on it without asking Temporal for every row. NULL until reported;
-- reads then derive what they can from the invitations table. The values are
-- domain.onboarding.InvitationState's: a new state there is a new migration replacing the named
-- constraint.
ALTER TABLE clients
    ADD COLUMN invitation_state text,
    ADD COLUMN invitation_scheduled_at timestamptz,
    ADD CONSTRAINT clients_invitation_state CHECK (invitation_state IN (
        'pending', 'scheduled', 'waiting_manual', 'cancelled', 'muted', 'sent', 'accepted',
        'expired', 'bounced'));
CREATE INDEX clients_partner_invitation_scheduled
    ON clients (partner_id, invitation_scheduled_at) WHERE invitation_scheduled_at IS NOT NULL;
CREATE INDEX clients_tags ON clients USING gin (tags);

-- Every subscription a client had: revision 1 is what the onboarding applied, each change adds a
-- revision effective from a date. The one in force on a day is the latest-effective on or
-- before it, revisions breaking ties. Rows are never updated: "which settings did this client
-- get, and since when" stays answerable. client_subscriptions stays what the onboarding applied
-- (its activity's idempotency record), like the setup snapshot.
CREATE TABLE client_subscription_revisions (
    client_id       uuid NOT NULL REFERENCES clients (id),
    revision        integer NOT NULL CHECK (revision >= 1),
    plan            text,
    add_ons         text[] NOT NULL DEFAULT '{}',
    payer           text NOT NULL CHECK (payer IN ('partner', 'client')),
    billing_period  text NOT NULL CHECK (billing_period IN ('monthly', 'annual')),
    effective_from  date NOT NULL,
    source          text NOT NULL CHECK (source IN ('onboarding', 'change')),
    changed_by      uuid,                -- partner_users.id; no FK: the record outlives the user
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, revision)
);
CREATE INDEX client_subscription_revisions_effective
    ON client_subscription_revisions (client_id, effective_from DESC, revision DESC);

-- The onboarding's subscription becomes revision 1 as it is applied, whichever code path applies
-- it: the activity stays unaware of the history. Changes are refused until the client's setup is
-- complete, so nothing can precede it.
CREATE FUNCTION record_onboarding_subscription() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO client_subscription_revisions
        (client_id, revision, plan, add_ons, payer, billing_period, effective_from, source,
         recorded_at)
    VALUES (NEW.client_id, 1, NEW.plan, NEW.add_ons, NEW.payer, NEW.billing_period,
            (NEW.created_at AT TIME ZONE 'UTC')::date, 'onboarding', NEW.created_at)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER client_subscriptions_history
    AFTER INSERT ON client_subscriptions
    FOR EACH ROW EXECUTE FUNCTION record_onboarding_subscription();

INSERT INTO client_subscription_revisions
    (client_id, revision, plan, add_ons, payer, billing_period, effective_from, source,
     recorded_at)
SELECT client_id, 1, plan, add_ons, payer, billing_period, (created_at AT TIME ZONE 'UTC')::date,
       'onboarding', created_at
FROM client_subscriptions
ON CONFLICT DO NOTHING;

-- The address is personal data: an erasure takes it with the rest. Here rather than in
-- store/erasure.py's scrub until that lists the column itself; the erasure's row and the
-- scrub are one transaction, so the address goes in the same one.
CREATE FUNCTION erase_client_address() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE clients SET address = NULL WHERE id = NEW.client_id AND address IS NOT NULL;
    RETURN NULL;
END;
$$;

CREATE TRIGGER erasures_client_address
    AFTER INSERT ON erasures
    FOR EACH ROW EXECUTE FUNCTION erase_client_address();
