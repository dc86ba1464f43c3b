"""Aggregates for the metrics endpoint (api/metrics.py): counts only, never an id.

One short read per refresh: the onboardings projection grouped by status, the settled import
rows, the webhook outbox's troubles (endpoints failing or disabled, deliveries retrying), and the
age of the KBO/BCE extract in service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from store.pool import Pool

# Statuses an onboarding never leaves: never "stuck", however old.
FINAL_STATUSES = ("COMPLETED", "FAILED")


@dataclass(frozen=True)
class StatusCount:
    status: str
    total: int
    stuck: int  # unfinished, and the status unchanged for longer than the threshold
    oldest_seconds: float  # since the status of the longest-unchanged one last changed


@dataclass(frozen=True)
class OpsStats:
    by_status: list[StatusCount]
    # Rows of bulk imports whose onboarding settled (ready, waiting for a person, failed).
    import_rows_settled: int
    # Live webhook endpoints whose deliveries fail with no success since (not yet disabled),
    # and the disabled ones.
    webhook_endpoints_failing: int
    webhook_endpoints_disabled: int
    # Deliveries pending after at least one failed attempt (the pending ones are few: indexed).
    webhook_deliveries_retrying: int
    # Days since the snapshot of the KBO/BCE extract in service (None: none loaded).
    kbo_extract_age_days: int | None = None


async def read(pool: Pool, *, stuck_after: timedelta) -> OpsStats:
    """Every status with its counts, in one pass over the projection.

    `status_since` moves only when the status changes (store/onboardings.set_status; a retried
    write of the same status leaves it), so it tells since when the status is what it is.
    """
    rows = await pool.fetch(
        """
        SELECT status,
               count(*) AS total,
               count(*) FILTER (
                   WHERE status <> ALL($2::text[]) AND status_since < now() - $1::interval
               ) AS stuck,
               COALESCE(EXTRACT(EPOCH FROM now() - min(status_since)), 0)::float8 AS oldest
        FROM onboardings
        WHERE NOT start_pending
        GROUP BY status
        ORDER BY status
        """,
        stuck_after,
        list(FINAL_STATUSES),
    )
    # Marked once per row, by the first settling status (store/onboardings.set_status): it only
    # grows, as a Prometheus counter must.
    settled = await pool.fetchval(
        "SELECT count(*) FROM import_rows WHERE settled_status IS NOT NULL"
    )
    webhooks = await pool.fetchrow(
        """
        SELECT
            (SELECT count(*) FROM webhook_endpoints
             WHERE deleted_at IS NULL AND disabled_at IS NULL AND failing_since IS NOT NULL)
                AS failing,
            (SELECT count(*) FROM webhook_endpoints
             WHERE deleted_at IS NULL AND disabled_at IS NOT NULL) AS disabled,
            (SELECT count(*) FROM webhook_deliveries WHERE state = 'pending' AND attempts > 0)
                AS retrying
        """
    )
    assert webhooks is not None
    kbo_age = await pool.fetchval(
        "SELECT current_date - snapshot_date FROM kbo_extract"
        " ORDER BY snapshot_date DESC, applied_at DESC LIMIT 1"
    )
    return OpsStats(
        by_status=[
            StatusCount(
                status=row["status"],
                total=row["total"],
                stuck=row["stuck"],
                oldest_seconds=row["oldest"],
            )
            for row in rows
        ],
        import_rows_settled=int(settled or 0),
        webhook_endpoints_failing=webhooks["failing"],
        webhook_endpoints_disabled=webhooks["disabled"],
        webhook_deliveries_retrying=webhooks["retrying"],
        kbo_extract_age_days=kbo_age,
    )
