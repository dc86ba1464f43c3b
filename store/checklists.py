"""Checklists: the partner's catalog, the copy assigned to a client, the director's answers.

Completion is decided here, in the transaction that stores the answers, with the client's
checklist row locked: of two requests answering the last items at once, exactly one sets
`completed_at` and writes the `checklist.completed` webhook event with it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from domain.checklists import (
    AnswerPublic,
    ChecklistProgress,
    StoredAnswer,
    is_complete,
    progress,
)
from store.pool import Conn, Pool

COMPLETED_EVENT = "checklist.completed"


@dataclass(frozen=True)
class ChecklistRow:
    id: uuid.UUID
    partner_id: uuid.UUID
    name: str
    language: str
    items: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


_COLUMNS = "id, partner_id, name, language, items, created_at, updated_at"


def _row(r: asyncpg.Record) -> ChecklistRow:
    return ChecklistRow(**{k: r[k] for k in _COLUMNS.split(", ")})


@dataclass(frozen=True)
class AssignedRow:
    client_id: uuid.UUID
    partner_id: uuid.UUID
    checklist_id: uuid.UUID
    name: str
    language: str
    items: list[dict[str, Any]]
    assigned_at: datetime
    completed_at: datetime | None


_ASSIGNED = "client_id, partner_id, checklist_id, name, language, items, assigned_at, completed_at"


def _assigned(r: asyncpg.Record) -> AssignedRow:
    return AssignedRow(**{k: r[k] for k in _ASSIGNED.split(", ")})


@dataclass(frozen=True)
class AnswerRow:
    item_key: str
    text: str | None
    filename: str | None
    content_type: str | None
    size: int | None
    answered_at: datetime


# ---- the catalog --------------------------------------------------------------------------------


async def create(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    checklist_id: uuid.UUID,
    name: str,
    language: str,
    items: list[dict[str, Any]],
) -> ChecklistRow:
    r = await pool.fetchrow(
        f"""
        INSERT INTO checklists (id, partner_id, name, language, items)
        VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}
        """,
        checklist_id,
        partner_id,
        name,
        language,
        items,
    )
    assert r is not None
    return _row(r)


async def get(
    pool: Pool | Conn, *, partner_id: uuid.UUID, checklist_id: uuid.UUID
) -> ChecklistRow | None:
    r = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM checklists WHERE partner_id = $1 AND id = $2",
        partner_id,
        checklist_id,
    )
    return _row(r) if r else None


async def list_(
    pool: Pool, *, partner_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[ChecklistRow], int]:
    rows = await pool.fetch(
        f"""
        SELECT {_COLUMNS}, count(*) OVER () AS total FROM checklists WHERE partner_id = $1
        ORDER BY created_at, id LIMIT $2 OFFSET $3
        """,
        partner_id,
        limit,
        offset,
    )
    if rows:
        return [_row(r) for r in rows], int(rows[0]["total"])
    total = await pool.fetchval("SELECT count(*) FROM checklists WHERE partner_id = $1", partner_id)
    return [], int(total)


async def replace(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    checklist_id: uuid.UUID,
    name: str,
    language: str,
    items: list[dict[str, Any]],
) -> ChecklistRow | None:
    r = await pool.fetchrow(
        f"""
        UPDATE checklists SET name = $3, language = $4, items = $5, updated_at = now()
        WHERE partner_id = $1 AND id = $2 RETURNING {_COLUMNS}
        """,
        partner_id,
        checklist_id,
        name,
        language,
        items,
    )
    return _row(r) if r else None


async def delete(pool: Pool, *, partner_id: uuid.UUID, checklist_id: uuid.UUID) -> bool:
    status = await pool.execute(
        "DELETE FROM checklists WHERE partner_id = $1 AND id = $2", partner_id, checklist_id
    )
    return str(status).endswith(" 1")


# ---- a client's checklist -----------------------------------------------------------------------


async def assign(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID, checklist_id: uuid.UUID
) -> AssignedRow | None:
    """Copy the catalog checklist onto the client, once; the existing copy when there is one
    (a retry, or a second call, keeps the first). None when the client or the checklist is not
    this partner's."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """
            INSERT INTO client_checklists (client_id, partner_id, checklist_id, name, language,
                                           items)
            SELECT c.id, c.partner_id, k.id, k.name, k.language, k.items
            FROM clients c JOIN checklists k ON k.partner_id = c.partner_id AND k.id = $3
            WHERE c.id = $2 AND c.partner_id = $1
            ON CONFLICT (client_id) DO NOTHING
            """,
            partner_id,
            client_id,
            checklist_id,
        )
        r = await conn.fetchrow(
            f"SELECT {_ASSIGNED} FROM client_checklists WHERE client_id = $1 AND partner_id = $2",
            client_id,
            partner_id,
        )
    return _assigned(r) if r else None


async def get_assigned(
    pool: Pool | Conn, *, partner_id: uuid.UUID, client_id: uuid.UUID
) -> AssignedRow | None:
    r = await pool.fetchrow(
        f"SELECT {_ASSIGNED} FROM client_checklists WHERE client_id = $1 AND partner_id = $2",
        client_id,
        partner_id,
    )
    return _assigned(r) if r else None


async def get_for_onboarding(pool: Pool, *, onboarding_id: uuid.UUID) -> AssignedRow | None:
    """The checklist of the client an onboarding (an invitation token's) created; none once
    the client's personal data was erased (an accepted token outlives the erasure)."""
    r = await pool.fetchrow(
        f"""
        SELECT {", ".join("k." + c for c in _ASSIGNED.split(", "))}
        FROM clients c JOIN client_checklists k ON k.client_id = c.id
        WHERE c.onboarding_id = $1
          AND NOT EXISTS (SELECT 1 FROM erasures e WHERE e.client_id = c.id)
        """,
        onboarding_id,
    )
    return _assigned(r) if r else None


async def item_labels(pool: Pool, *, client_id: uuid.UUID) -> list[str]:
    """The labels of the client's checklist items, in order; empty when none is assigned."""
    items = await pool.fetchval(
        "SELECT items FROM client_checklists WHERE client_id = $1", client_id
    )
    return [str(i["label"]) for i in items or []]


async def answers(pool: Pool | Conn, *, client_id: uuid.UUID) -> list[AnswerRow]:
    rows = await pool.fetch(
        """
        SELECT item_key, text, filename, content_type, octet_length(content) AS size, answered_at
        FROM client_checklist_answers WHERE client_id = $1
        """,
        client_id,
    )
    return [AnswerRow(**dict(r)) for r in rows]


async def document(
    pool: Pool, *, client_id: uuid.UUID, item_key: str
) -> tuple[str, str, bytes] | None:
    """(filename, content type, content) of a document answer."""
    r = await pool.fetchrow(
        """
        SELECT filename, content_type, content FROM client_checklist_answers
        WHERE client_id = $1 AND item_key = $2 AND content IS NOT NULL
        """,
        client_id,
        item_key,
    )
    return (r["filename"], r["content_type"], bytes(r["content"])) if r else None


async def save_answers(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    stored: list[StoredAnswer],
    cleared: list[str],
) -> tuple[AssignedRow, bool] | None:
    """Store and clear answers; record completion the first time every required item is
    answered, with its webhook event in the same transaction. (row, completed by this call);
    None when the client has no checklist."""
    async with pool.acquire() as conn, conn.transaction():
        # The lock orders concurrent answerers, so completion is decided by one of them.
        locked = await conn.fetchrow(
            f"""
            SELECT {_ASSIGNED} FROM client_checklists
            WHERE client_id = $1 AND partner_id = $2 FOR UPDATE
            """,
            client_id,
            partner_id,
        )
        if locked is None:
            return None
        row = _assigned(locked)
        if cleared:
            await conn.execute(
                "DELETE FROM client_checklist_answers WHERE client_id = $1 AND item_key = ANY($2)",
                client_id,
                cleared,
            )
        if stored:
            await conn.executemany(
                """
                INSERT INTO client_checklist_answers
                    (client_id, item_key, text, filename, content_type, content)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (client_id, item_key) DO UPDATE SET
                    text = EXCLUDED.text, filename = EXCLUDED.filename,
                    content_type = EXCLUDED.content_type, content = EXCLUDED.content,
                    answered_at = now()
                """,
                [(client_id, a.key, a.text, a.filename, a.content_type, a.content) for a in stored],
            )
        if row.completed_at is not None:
            return row, False
        answered = {
            r["item_key"]
            for r in await conn.fetch(
                "SELECT item_key FROM client_checklist_answers WHERE client_id = $1", client_id
            )
        }
        if not is_complete(row.items, answered):
            return row, False
        done = await conn.fetchrow(
            f"""
            UPDATE client_checklists SET completed_at = now()
            WHERE client_id = $1 AND completed_at IS NULL RETURNING {_ASSIGNED}
            """,
            client_id,
        )
        if done is None:
            return row, False  # completed meanwhile by another request (the lock makes it rare)
        completed = _assigned(done)
        # Ids only in the payload: the answers are personal data the firm reads through the API.
        await conn.execute(
            "SELECT webhook_emit($1, $2, $3, $4)",
            partner_id,
            COMPLETED_EVENT,
            str(client_id),
            {
                "client_id": str(client_id),
                "checklist_id": str(completed.checklist_id),
                "completed_at": completed.completed_at.isoformat()
                if completed.completed_at
                else None,
            },
        )
        return completed, True


def _progress(row: AssignedRow, rows: list[AnswerRow]) -> ChecklistProgress:
    return progress(
        checklist_id=row.checklist_id,
        name=row.name,
        language=row.language,
        items=row.items,
        answers={
            a.item_key: AnswerPublic(
                text=a.text,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                answered_at=a.answered_at,
            )
            for a in rows
        },
        assigned_at=row.assigned_at,
        completed_at=row.completed_at,
    )


async def read_progress(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID
) -> ChecklistProgress | None:
    """The client's checklist with its answers (documents by name and size); None if it has
    none."""
    row = await get_assigned(pool, partner_id=partner_id, client_id=client_id)
    if row is None:
        return None
    return _progress(row, await answers(pool, client_id=client_id))
