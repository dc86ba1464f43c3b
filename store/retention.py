"""Retention: the oldest rows of the tables that grow without bound, deleted one batch at a time.

Each function deletes at most `limit` rows older than `cutoff` in one short statement (its own
transaction) and returns how many it deleted; the caller repeats until fewer than `limit` come
back (activities/retention.py, heartbeating between batches). Which rows are old, per table:

- webhook_attempts: started before the cutoff;
- webhook_deliveries: delivered or given up, the last window started before the cutoff (with
  their attempts; pending ones never);
- email_log: written before the cutoff, for an onboarding COMPLETED or FAILED (none of its
  e-mails will be retried, so the idempotency key has served), except `client_ready` rows, which
  keep a collaborator added again later from being told twice;
- console_sign_in_links, console_sessions: expired before the cutoff;
- import_rows: of an import created before the cutoff with no row left to settle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from domain.retention import Table
from store.pool import Conn, Pool


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def _delete(pool: Pool | Conn, sql: str, cutoff: datetime, limit: int) -> int:
    return _count(await pool.execute(sql, cutoff, limit))


async def delete_webhook_attempts(pool: Pool | Conn, *, cutoff: datetime, limit: int) -> int:
    return await _delete(
        pool,
        """
        DELETE FROM webhook_attempts WHERE (delivery_id, attempt) IN (
            SELECT delivery_id, attempt FROM webhook_attempts
            WHERE started_at < $1 ORDER BY started_at LIMIT $2)
        """,
        cutoff,
        limit,
    )


async def delete_webhook_deliveries(pool: Pool | Conn, *, cutoff: datetime, limit: int) -> int:
    # The attempts of each delivery go in the same statement: they reference it.
    return await _delete(
        pool,
        """
        WITH old AS (
            SELECT id FROM webhook_deliveries
            WHERE state IN ('delivered', 'failed') AND window_started_at < $1
              AND coalesce(delivered_at, window_started_at) < $1
            ORDER BY window_started_at LIMIT $2
        ), attempts AS (
            DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM old)
        )
        DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM old)
        """,
        cutoff,
        limit,
    )


async def delete_email_log(pool: Pool | Conn, *, cutoff: datetime, limit: int) -> int:
    return await _delete(
        pool,
        """
        DELETE FROM email_log WHERE (onboarding_id, purpose, sequence) IN (
            SELECT e.onboarding_id, e.purpose, e.sequence
            FROM email_log e JOIN onboardings o ON o.id = e.onboarding_id
            WHERE e.created_at < $1 AND e.purpose <> 'client_ready'
              AND o.status IN ('COMPLETED', 'FAILED')
            ORDER BY e.created_at LIMIT $2)
        """,
        cutoff,
        limit,
    )


async def delete_console_sign_in_links(pool: Pool | Conn, *, cutoff: datetime, limit: int) -> int:
    return await _delete(
        pool,
        """
        DELETE FROM console_sign_in_links WHERE token_hash IN (
            SELECT token_hash FROM console_sign_in_links
            WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)
        """,
        cutoff,
        limit,
    )


async def delete_console_sessions(pool: Pool | Conn, *, cutoff: datetime, limit: int) -> int:
    return await _delete(
        pool,
        """
        DELETE FROM console_sessions WHERE id_hash IN (
            SELECT id_hash FROM console_sessions
            WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)
        """,
        cutoff,
        limit,
    )


async def delete_import_rows(pool: Pool | Conn, *, cutoff: datetime, limit: int) -> int:
    # An import is finished when no valid row is left without an outcome: skipped, or settled
    # (its onboarding ready, waiting for a person, or failed). The import's own row stays, with
    # its counts: only the file's rows go.
    return await _delete(
        pool,
        """
        WITH finished AS (
            SELECT i.id FROM imports i
            WHERE i.created_at < $1
              AND EXISTS (SELECT 1 FROM import_rows r WHERE r.import_id = i.id)
              AND NOT EXISTS (
                  SELECT 1 FROM import_rows r
                  WHERE r.import_id = i.id AND r.request IS NOT NULL
                    AND r.skipped IS NULL AND r.settled_status IS NULL)
            ORDER BY i.created_at
        )
        DELETE FROM import_rows WHERE (import_id, row) IN (
            SELECT r.import_id, r.row FROM finished f JOIN import_rows r ON r.import_id = f.id
            LIMIT $2)
        """,
        cutoff,
        limit,
    )


Deleter = Callable[..., Awaitable[int]]

DELETERS: dict[Table, Deleter] = {
    Table.webhook_attempts: delete_webhook_attempts,
    Table.webhook_deliveries: delete_webhook_deliveries,
    Table.email_log: delete_email_log,
    Table.console_sign_in_links: delete_console_sign_in_links,
    Table.console_sessions: delete_console_sessions,
    Table.import_rows: delete_import_rows,
}
