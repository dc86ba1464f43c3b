-- Prices and who pays (issue 23). Catalogue prices live in the plans' jsonb bodies (a `price` on
-- the plan and on each add-on); what is new here is the firm's special rates and the record of
-- every time someone confirmed the firm pays at the prices shown.

-- A firm's agreed rate for a plan (add_on = '') or one of its add-ons, overriding the catalogue.
-- Set by the operator (`onboarding partner rate`), never by the firm itself: it is what the
-- platform agreed to bill the firm, so a firm's administrator setting it would set their own bill.
CREATE TABLE partner_rates (
    partner_id     uuid NOT NULL REFERENCES partners (id),
    plan           text NOT NULL,
    add_on         text NOT NULL DEFAULT '',
    monthly_cents  bigint NOT NULL CHECK (monthly_cents >= 0),
    annual_cents   bigint NOT NULL CHECK (annual_cents >= 0),
    currency       text NOT NULL DEFAULT 'EUR' CHECK (currency = 'EUR'),
    set_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partner_id, plan, add_on)
);

-- Who confirmed, and when, that the firm pays at the prices shown: one row per template version,
-- billing-defaults save, subscription revision or onboarding saved with payer = the firm.
CREATE TABLE pricing_acknowledgements (
    id               bigserial PRIMARY KEY,
    partner_id       uuid NOT NULL REFERENCES partners (id),
    subject          text NOT NULL
        CHECK (subject IN ('template', 'billing_defaults', 'subscription', 'onboarding')),
    subject_id       uuid,       -- the template, client or onboarding; null for billing defaults
    subject_version  integer,    -- the template version or subscription revision saved
    acknowledged_by  uuid NOT NULL,
    acknowledged_at  timestamptz NOT NULL DEFAULT now(),
    monthly_cents    bigint,     -- the monthly cost shown then; null when nothing was priced
    currency         text
);
CREATE INDEX pricing_acknowledgements_subject
    ON pricing_acknowledgements (partner_id, subject, subject_id);
-- A retried onboarding start records its acknowledgement once.
CREATE UNIQUE INDEX pricing_acknowledgements_onboarding_once
    ON pricing_acknowledgements (subject_id) WHERE subject = 'onboarding';
