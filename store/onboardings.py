"""The onboardings table: the database projection of each onboarding workflow."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from domain.onboarding import IMPORT_SETTLED, OnboardingStatus
from store.pool import Pool, snapshot


@dataclass(frozen=True)
class OnboardingRow:
    id: uuid.UUID
    partner_id: uuid.UUID
    idempotency_key: str
    request_hash: str
    workflow_id: str
    status: str
    created_at: datetime
    updated_at: datetime
    case_manager: str | None
    status_since: datetime  # when the status last changed (updated_at moves with every write)


# Never `*`: the secrets column stays in the database unless a function asks for it by name.
_COLUMNS = (
    "id, partner_id, idempotency_key, request_hash, workflow_id, status, created_at, updated_at, "
    "case_manager, status_since"
)


def _row(record: asyncpg.Record) -> OnboardingRow:
    return OnboardingRow(**dict(record))


async def claim(
    pool: Pool,
    *,
    onboarding_id: uuid.UUID,
    partner_id: uuid.UUID,
    idempotency_key: str,
    request_hash: str,
    workflow_id: str,
    status: str,
    created_by: uuid.UUID | None = None,
    secrets: dict[str, Any] | None = None,
    case_manager: str | None = None,
    import_id: uuid.UUID | None = None,
    start_pending: bool = False,
) -> tuple[OnboardingRow, bool]:
    """Insert the onboarding unless the (partner, key) pair exists; return (row, created).

    `start_pending` hides the row from reads and lists until `mark_started`: the API claims the
    row before it asks Temporal to start the workflow, and Temporal may refuse.
    """
    record = await pool.fetchrow(
        f"""
        INSERT INTO onboardings (id, partner_id, idempotency_key, request_hash, workflow_id, status,
                                 created_by, secrets, case_manager, import_id, start_pending)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (partner_id, idempotency_key) DO NOTHING
        RETURNING {_COLUMNS}
        """,
        onboarding_id,
        partner_id,
        idempotency_key,
        request_hash,
        workflow_id,
        status,
        created_by,
        secrets or {},
        case_manager,
        import_id,
        start_pending,
    )
    if record is not None:
        return _row(record), True
    existing = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM onboardings WHERE partner_id = $1 AND idempotency_key = $2",
        partner_id,
        idempotency_key,
    )
    assert existing is not None  # the conflicting row cannot vanish: onboardings are never deleted
    return _row(existing), False


async def get(
    pool: Pool, *, partner_id: uuid.UUID, onboarding_id: uuid.UUID
) -> OnboardingRow | None:
    """A started onboarding of the partner (a claim Temporal has not accepted yet is not one)."""
    record = await pool.fetchrow(
        f"""
        SELECT {_COLUMNS} FROM onboardings
        WHERE partner_id = $1 AND id = $2 AND NOT start_pending
        """,
        partner_id,
        onboarding_id,
    )
    return _row(record) if record else None


async def mark_started(pool: Pool, *, onboarding_id: uuid.UUID) -> None:
    """Temporal accepted the workflow: the onboarding is visible from now on."""
    await pool.execute(
        "UPDATE onboardings SET start_pending = false WHERE id = $1 AND start_pending",
        onboarding_id,
    )


async def release(pool: Pool, *, onboarding_id: uuid.UUID) -> None:
    """Give a claim back when Temporal refused its workflow: nothing was started under it."""
    await pool.execute("DELETE FROM onboardings WHERE id = $1 AND start_pending", onboarding_id)


async def set_status(pool: Pool, *, onboarding_id: uuid.UUID, status: str) -> None:
    """The projection of the workflow's status; an imported onboarding's first settling status
    is also recorded on its import row, in the same statement, for the import to read.

    `status_since` moves only when the status changes: a retried activity writes the same status
    again, and that must not restart the clock of a stuck onboarding."""
    await pool.execute(
        """
        WITH projected AS (
            UPDATE onboardings SET status = $2, updated_at = now(),
                status_since = CASE WHEN status = $2 THEN status_since ELSE now() END
            WHERE id = $1
            RETURNING import_id
        )
        UPDATE import_rows r SET settled_status = $2, settled_at = now()
        FROM projected p
        WHERE $3 AND r.import_id = p.import_id AND r.onboarding_id = $1
          AND r.settled_status IS NULL
        """,
        onboarding_id,
        status,
        status in IMPORT_SETTLED,
    )


# A finished onboarding waits for nothing: however old its status, it is not stuck. Literals in
# the SQL (not a parameter) so the planner can use the partial indexes of migrations 0015, 0027.
_FINISHED = f"'{OnboardingStatus.COMPLETED.value}', '{OnboardingStatus.FAILED.value}'"


# An exact count stops here: past it, the total says "at least this many" (a large firm's
# whole list would otherwise be counted for every page of it).
TOTAL_CAP = 1_000


async def list_for_partner(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    status: str | None = None,
    case_manager: str | None = None,
    stuck_for: timedelta | None = None,
    failing_workflow_ids: Sequence[str] = (),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[OnboardingRow], int, bool]:
    """One page of the partner's started onboardings, newest first, how many match (exact up
    to TOTAL_CAP, then TOTAL_CAP), and whether that count is exact.

    `stuck_for`: only unfinished onboardings whose status has not changed for that long, the
    longest-stuck first, and those run by `failing_workflow_ids` (their workflow task fails:
    stuck however recent their status).

    The SQL names only the filters given: each combination is a statement of its own whose
    plan (even a cached generic one) keeps to its index (migrations 0015 and 0027).
    """
    args: list[Any] = [partner_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where = ["partner_id = $1", "NOT start_pending"]
    if status is not None:
        where.append(f"status = {arg(status)}")
    if case_manager is not None:
        where.append(f"case_manager = {arg(case_manager)}")
    if stuck_for is not None:
        failing = list(failing_workflow_ids)
        # The ids only when there are some: the plain query keeps its plan on the partial
        # index of unfinished onboardings.
        or_failing = f" OR workflow_id = ANY({arg(failing)}::text[])" if failing else ""
        where.append(
            f"status NOT IN ({_FINISHED})"
            f" AND (status_since < now() - {arg(stuck_for)}::interval{or_failing})"
        )
    conditions = " AND ".join(where)
    order = "status_since, id" if stuck_for is not None else "created_at DESC, id"
    async with snapshot(pool) as conn:  # the page and its total as of one moment
        records = await conn.fetch(
            f"""
            SELECT {_COLUMNS} FROM onboardings WHERE {conditions}
            ORDER BY {order}
            LIMIT {int(limit)} OFFSET {arg(offset)}
            """,
            *args,
        )
        total = await conn.fetchval(
            f"""
            SELECT count(*) FROM (
                SELECT 1 FROM onboardings WHERE {conditions}
                ORDER BY {order} LIMIT {TOTAL_CAP + 1}
            ) capped
            """,
            *args[:-1],
        )
    return [_row(r) for r in records], min(int(total), TOTAL_CAP), int(total) <= TOTAL_CAP


@dataclass(frozen=True)
class StuckRow:
    id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str
    status: str
    status_since: datetime
    # Where the invitation stands, as the workflow projected it on the client row (None: not
    # projected, or no client yet): tells what a READY onboarding is waiting for.
    invitation_state: str | None
    invitation_scheduled_at: datetime | None
    workflow_task_failing: bool = False


async def list_stuck(
    pool: Pool,
    *,
    older_than: timedelta,
    partner_id: uuid.UUID | None = None,
    partner_name: str | None = None,
    failing_workflow_ids: Sequence[str] = (),
    limit: int = 200,
) -> list[StuckRow]:
    """Unfinished onboardings of every partner (or one, by id or by name, any case) whose status
    has not changed for `older_than`, or whose workflow is in `failing_workflow_ids`, the
    longest-stuck first: the ops view across tenants."""
    failing = list(failing_workflow_ids)
    # The ids only when there are some: the plain query keeps its plan on the partial index.
    flag, or_failing = (
        ("o.workflow_id = ANY($5::text[])", " OR o.workflow_id = ANY($5::text[])")
        if failing
        else ("false", "")
    )
    records = await pool.fetch(
        f"""
        SELECT o.id, o.partner_id, p.name AS partner_name, o.status, o.status_since,
               c.invitation_state, c.invitation_scheduled_at, {flag} AS workflow_task_failing
        FROM onboardings o
        JOIN partners p ON p.id = o.partner_id
        LEFT JOIN clients c ON c.onboarding_id = o.id
        WHERE NOT o.start_pending AND o.status NOT IN ({_FINISHED})
          AND (o.status_since < now() - $1::interval{or_failing})
          AND ($2::uuid IS NULL OR o.partner_id = $2)
          AND ($3::text IS NULL OR lower(p.name) = lower($3))
        ORDER BY o.status_since, o.id
        LIMIT $4
        """,
        older_than,
        partner_id,
        partner_name,
        limit,
        *([failing] if failing else []),
    )
    return [StuckRow(**dict(r)) for r in records]


async def projected_status(pool: Pool, *, workflow_id: str) -> tuple[str, datetime] | None:
    """The status and since when, as the projection holds them for this workflow's onboarding
    (None: no such row)."""
    record = await pool.fetchrow(
        "SELECT status, status_since FROM onboardings WHERE workflow_id = $1", workflow_id
    )
    return None if record is None else (record["status"], record["status_since"])


async def status_since(pool: Pool, *, workflow_id: str) -> datetime | None:
    """When the onboarding run by this workflow last changed status (None: no such row)."""
    since: datetime | None = await pool.fetchval(
        "SELECT status_since FROM onboardings WHERE workflow_id = $1", workflow_id
    )
    return since


async def creator_email(pool: Pool, *, onboarding_id: uuid.UUID) -> str | None:
    """The e-mail of the partner user who started the onboarding."""
    email: str | None = await pool.fetchval(
        """
        SELECT u.email FROM onboardings o JOIN partner_users u ON u.id = o.created_by
        WHERE o.id = $1
        """,
        onboarding_id,
    )
    return email


async def partner_of(pool: Pool, *, onboarding_id: uuid.UUID) -> uuid.UUID | None:
    """The partner whose started onboarding this is, for ops commands that are given an id
    alone (None: no such onboarding, or a claim Temporal has not accepted)."""
    partner_id: uuid.UUID | None = await pool.fetchval(
        "SELECT partner_id FROM onboardings WHERE id = $1 AND NOT start_pending", onboarding_id
    )
    return partner_id
