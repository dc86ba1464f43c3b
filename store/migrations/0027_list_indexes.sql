-- migrate: no-transaction
-- Indexes for what each list filters and sorts on (issue 25), built CONCURRENTLY so a large
-- table keeps taking writes while they build: each statement runs and commits on its own
-- (store/migrate.py), and can run again (IF NOT EXISTS; an invalid index left by a failed
-- build is dropped and built again by the runner).

-- The clients list: one index per order, led by the partner, the id last (the tie-breaker), so
-- a page reads its rows in order and a cursor starts where the last page ended.
CREATE INDEX CONCURRENTLY IF NOT EXISTS clients_partner_created
    ON clients (partner_id, created_at DESC, id DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS clients_partner_name
    ON clients (partner_id, lower(name), id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS clients_partner_scheduled
    ON clients (partner_id, invitation_scheduled_at, id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS clients_partner_scheduled_desc
    ON clients (partner_id, invitation_scheduled_at DESC NULLS LAST, id DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS clients_partner_case_manager_created
    ON clients (partner_id, case_manager, created_at DESC, id DESC);
-- The invitation-state filter: the state the workflow projects on the client.
CREATE INDEX CONCURRENTLY IF NOT EXISTS clients_partner_invitation_state
    ON clients (partner_id, invitation_state);
-- Their prefixes, now covered by the ones above.
DROP INDEX CONCURRENTLY IF EXISTS clients_partner;
DROP INDEX CONCURRENTLY IF EXISTS clients_partner_case_manager;
DROP INDEX CONCURRENTLY IF EXISTS clients_partner_invitation_scheduled;

-- The onboardings list (newest first) and a partner's stuck ones (longest-unchanged first).
CREATE INDEX CONCURRENTLY IF NOT EXISTS onboardings_partner_created
    ON onboardings (partner_id, created_at DESC, id) WHERE NOT start_pending;
CREATE INDEX CONCURRENTLY IF NOT EXISTS onboardings_partner_unfinished_since
    ON onboardings (partner_id, status_since, id)
    WHERE status NOT IN ('COMPLETED', 'FAILED') AND NOT start_pending;

-- The search q: a substring of the name, the registry name, the SIRET or the enterprise
-- number; trigram indexes answer ILIKE '%…%' without reading every client of the firm.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX CONCURRENTLY IF NOT EXISTS clients_name_trgm
    ON clients USING gin (name gin_trgm_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS clients_company_name_trgm
    ON clients USING gin ((company ->> 'name') gin_trgm_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS clients_siret_trgm
    ON clients USING gin (siret gin_trgm_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS clients_enterprise_number_trgm
    ON clients USING gin (enterprise_number gin_trgm_ops);

-- The planner's default cost of a random page (4) is a spinning disk's: on SSDs, and with the
-- lists' pages in cache, it counted a few thousand index look-ups dearer than reading a whole
-- table (the clients list filtered by onboarding status hashed every client). New sessions
-- take it.
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET random_page_cost = 1.1', current_database()); END $$;
