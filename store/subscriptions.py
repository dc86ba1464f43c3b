"""A client's subscription history: dated revisions, never updated, the first one the onboarding's.

Revision 1 is written by a trigger as the onboarding applies the subscription (migration 0010);
every change after that is a new revision effective from a date. The one in force on a day is the
latest-effective revision on or before it, the higher revision winning a tie.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from store import pricing
from store.pool import Conn, Pool


@dataclass(frozen=True)
class RevisionRow:
    client_id: uuid.UUID
    revision: int
    plan: str | None
    add_ons: list[str]
    payer: str
    billing_period: str
    effective_from: date
    source: str
    changed_by: uuid.UUID | None
    recorded_at: datetime


_COLUMNS = (
    "client_id, revision, plan, add_ons, payer, billing_period, effective_from, source, "
    "changed_by, recorded_at"
)


def _row(record: asyncpg.Record) -> RevisionRow:
    fields = {k: record[k] for k in RevisionRow.__dataclass_fields__}
    return RevisionRow(**{**fields, "add_ons": list(record["add_ons"])})


async def history(
    pool: Pool, *, client_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[RevisionRow], int]:
    """One page of the client's revisions in the order they were recorded, and how many."""
    records = await pool.fetch(
        f"""
        SELECT {_COLUMNS}, count(*) OVER () AS total FROM client_subscription_revisions
        WHERE client_id = $1 ORDER BY revision LIMIT $2 OFFSET $3
        """,
        client_id,
        limit,
        offset,
    )
    if records:
        total = int(records[0]["total"])
        return [_row(r) for r in records], total
    count = await pool.fetchval(
        "SELECT count(*) FROM client_subscription_revisions WHERE client_id = $1", client_id
    )
    return [], int(count)


async def in_force(pool: Pool | Conn, *, client_id: uuid.UUID, on: date) -> RevisionRow | None:
    """The revision in force on day `on`, if the client had a subscription by then."""
    record = await pool.fetchrow(
        f"""
        SELECT {_COLUMNS} FROM client_subscription_revisions
        WHERE client_id = $1 AND effective_from <= $2
        ORDER BY effective_from DESC, revision DESC LIMIT 1
        """,
        client_id,
        on,
    )
    return _row(record) if record else None


async def change(
    pool: Pool,
    *,
    client_id: uuid.UUID,
    plan: str | None,
    add_ons: list[str],
    payer: str,
    billing_period: str,
    effective_from: date,
    changed_by: uuid.UUID,
    acknowledgement: pricing.Acknowledgement | None = None,
) -> tuple[RevisionRow, bool]:
    """Record a change effective from a date: (revision, recorded now).

    The same change sent again (same settings and date as the client's last revision) records
    nothing and returns that revision, so a retried PUT leaves one row.
    """
    async with pool.acquire() as conn, conn.transaction():
        # The client's row lock serialises revisions: numbers stay gapless and unique.
        await conn.execute("SELECT 1 FROM clients WHERE id = $1 FOR UPDATE", client_id)
        last = await conn.fetchrow(
            f"""
            SELECT {_COLUMNS} FROM client_subscription_revisions
            WHERE client_id = $1 ORDER BY revision DESC LIMIT 1
            """,
            client_id,
        )
        if last is not None:
            previous = _row(last)
            if (
                previous.plan,
                previous.add_ons,
                previous.payer,
                previous.billing_period,
                previous.effective_from,
            ) == (plan, add_ons, payer, billing_period, effective_from):
                return previous, False
        record = await conn.fetchrow(
            f"""
            INSERT INTO client_subscription_revisions
                (client_id, revision, plan, add_ons, payer, billing_period, effective_from,
                 source, changed_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'change', $8)
            RETURNING {_COLUMNS}
            """,
            client_id,
            (last["revision"] if last else 0) + 1,
            plan,
            add_ons,
            payer,
            billing_period,
            effective_from,
            changed_by,
        )
        assert record is not None  # an INSERT ... RETURNING without conflict returns its row
        if acknowledgement is not None:
            await pricing.record_acknowledgement(
                conn,
                subject="subscription",
                subject_id=client_id,
                subject_version=record["revision"],
                acknowledgement=acknowledgement,
            )
    return _row(record), True
