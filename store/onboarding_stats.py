"""Aggregates over the onboardings projection, for the metrics endpoint: counts only, no ids."""

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
class OnboardingStats:
    by_status: list[StatusCount]
    # Imported onboardings past their setting-up: the rows an import has seen settle.
    import_rows_settled: int


async def read(pool: Pool, *, stuck_after: timedelta) -> OnboardingStats:
    """Every status with its counts, in one pass over the projection.

    `updated_at` is written with every status change (store/onboardings.set_status), so it
    tells since when the status is what it is.
    """
    rows = await pool.fetch(
        """
        SELECT status,
               count(*) AS total,
               count(*) FILTER (
                   WHERE status <> ALL($2::text[]) AND updated_at < now() - $1::interval
               ) AS stuck,
               COALESCE(EXTRACT(EPOCH FROM now() - min(updated_at)), 0)::float8 AS oldest
        FROM onboardings
        WHERE NOT start_pending
        GROUP BY status
        ORDER BY status
        """,
        stuck_after,
        list(FINAL_STATUSES),
    )
    settled = await pool.fetchval(
        """
        SELECT count(*) FROM onboardings
        WHERE import_id IS NOT NULL AND NOT start_pending AND status <> 'SETTING_UP'
        """
    )
    return OnboardingStats(
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
    )
