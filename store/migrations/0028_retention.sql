-- migrate: no-transaction
-- Retention (store/retention.py, workflows/retention.py): the tables that grow with every
-- delivery, e-mail, sign-in and import are trimmed in batches by a daily schedule. Each batch
-- finds its oldest rows through an index on the timestamp it is judged by, so a batch reads
-- about the rows it deletes, however large the table. Built CONCURRENTLY, one statement at a
-- time (store/migrate.py), so the tables keep taking writes meanwhile.

-- Attempts are judged by when they started.
CREATE INDEX CONCURRENTLY IF NOT EXISTS webhook_attempts_started ON webhook_attempts (started_at);
-- Deliveries that ended (delivered, or given up), by the start of their last window.
CREATE INDEX CONCURRENTLY IF NOT EXISTS webhook_deliveries_ended ON webhook_deliveries (window_started_at)
    WHERE state IN ('delivered', 'failed');
CREATE INDEX CONCURRENTLY IF NOT EXISTS email_log_created ON email_log (created_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS console_sessions_expires ON console_sessions (expires_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS imports_created ON imports (created_at);
