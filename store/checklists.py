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
    # Which assignment of this client (1, 2, ...): the key of the director's notice.
    assignment: int = 1


_ASSIGNED = (
    "client_id, partner_id, checklist_id, name, language, items, assigned_at, completed_at, "
    "assignment"
)


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


@dataclass(frozen=True)
class Reassigned:
    """What `set_assigned` did: `row` is the client's checklist now; `changed` False when it
    already was this catalog entry as it stands (a request sent twice changes nothing)."""

    row: AssignedRow
    changed: bool
    onboarding_id: uuid.UUID


class ClientGone(Exception):
    """No such client of this partner, or its personal data was erased."""


async def _client_for_update(
    conn: Conn, partner_id: uuid.UUID, client_id: uuid.UUID
) -> asyncpg.Record:
    # The client row's lock orders concurrent assignments and withdrawals of one client.
    client = await conn.fetchrow(
        """
        SELECT id, onboarding_id, checklist_assignments FROM clients
        WHERE id = $1 AND partner_id = $2
          AND NOT EXISTS (SELECT 1 FROM erasures e WHERE e.client_id = $1)
        FOR UPDATE
        """,
        client_id,
        partner_id,
    )
    if client is None:
        raise ClientGone(client_id)
    return client


async def _drop(conn: Conn, client_id: uuid.UUID) -> None:
    # The answers go with the checklist they answered: a new questionnaire starts blank, and
    # documents a firm no longer asks for are not kept.
    await conn.execute("DELETE FROM client_checklist_answers WHERE client_id = $1", client_id)
    await conn.execute("DELETE FROM client_checklists WHERE client_id = $1", client_id)


async def set_assigned(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID, checklist_id: uuid.UUID
) -> Reassigned | None:
    """Make the catalog checklist the client's, now: a copy under the next assignment number,
    replacing (answers included) the one it had. None when the checklist is not this partner's;
    ClientGone when the client is not (or was erased)."""
    async with pool.acquire() as conn, conn.transaction():
        client = await _client_for_update(conn, partner_id, client_id)
        entry = await get(conn, partner_id=partner_id, checklist_id=checklist_id)
        if entry is None:
            return None
        current = await get_assigned(conn, partner_id=partner_id, client_id=client_id)
        if (
            current is not None
            and current.checklist_id == entry.id
            and (current.name, current.language, current.items)
            == (entry.name, entry.language, entry.items)
        ):
            return Reassigned(row=current, changed=False, onboarding_id=client["onboarding_id"])
        # Copies made at setup are number 1 without counting it on the client.
        number = max(client["checklist_assignments"], current.assignment if current else 0) + 1
        await _drop(conn, client_id)
        r = await conn.fetchrow(
            f"""
            INSERT INTO client_checklists (client_id, partner_id, checklist_id, name, language,
                                           items, assignment)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_ASSIGNED}
            """,
            client_id,
            partner_id,
            entry.id,
            entry.name,
            entry.language,
            entry.items,
            number,
        )
        await conn.execute(
            "UPDATE clients SET checklist_assignments = $2 WHERE id = $1", client_id, number
        )
    assert r is not None
    return Reassigned(row=_assigned(r), changed=True, onboarding_id=client["onboarding_id"])


async def withdraw(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID
) -> AssignedRow | None:
    """Take the client's checklist away, answers included; the one withdrawn, None when it had
    none. ClientGone when the client is not this partner's (or was erased)."""
    async with pool.acquire() as conn, conn.transaction():
        client = await _client_for_update(conn, partner_id, client_id)
        current = await get_assigned(conn, partner_id=partner_id, client_id=client_id)
        if current is None:
            return None
        await _drop(conn, client_id)
        # Kept, so the next assignment never reuses a number (an e-mail-log key) already used.
        await conn.execute(
            "UPDATE clients SET checklist_assignments = $2 WHERE id = $1",
            client_id,
            max(client["checklist_assignments"], current.assignment),
        )
    return current


@dataclass(frozen=True)
class NoticeFacts:
    """What the director's notice of an assignment needs to know, read at one moment."""

    current: bool  # the assignment is still the client's (not replaced, not withdrawn)
    muted: bool
    invited: bool  # an invitation was sent to the director, or accepted
    onboarding_id: uuid.UUID | None
    language: str
    client_name: str
    checklist_name: str
    item_labels: list[str]
    # The director's latest invitation still open or accepted: (sequence, expires at).
    invitation: tuple[int, datetime] | None


async def notice_facts(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID, assignment: int
) -> NoticeFacts:
    r = await pool.fetchrow(
        """
        SELECT c.onboarding_id, c.language, c.name, c.notifications_muted,
               k.assignment, k.name AS checklist_name, k.items,
               EXISTS (SELECT 1 FROM erasures e WHERE e.client_id = c.id) AS erased,
               (EXISTS (SELECT 1 FROM email_log l
                        WHERE l.onboarding_id = c.onboarding_id AND l.purpose = 'invitation'
                          AND l.status = 'sent')
                OR EXISTS (SELECT 1 FROM invitations i
                           WHERE i.onboarding_id = c.onboarding_id
                             AND i.accepted_at IS NOT NULL)) AS invited,
               latest.sequence AS latest_sequence, latest.expires_at AS latest_expires_at
        FROM clients c
        LEFT JOIN client_checklists k ON k.client_id = c.id
        LEFT JOIN LATERAL (
            SELECT i.sequence, i.expires_at FROM invitations i
            WHERE i.onboarding_id = c.onboarding_id
              AND (i.accepted_at IS NOT NULL OR i.revoked_at IS NULL)
            ORDER BY i.sequence DESC LIMIT 1
        ) latest ON true
        WHERE c.id = $1 AND c.partner_id = $2
        """,
        client_id,
        partner_id,
    )
    if r is None or r["erased"]:
        return NoticeFacts(
            current=False,
            muted=True,
            invited=False,
            onboarding_id=None,
            language="fr",
            client_name="",
            checklist_name="",
            item_labels=[],
            invitation=None,
        )
    latest = r["latest_sequence"]
    return NoticeFacts(
        current=r["assignment"] == assignment,
        muted=r["notifications_muted"],
        invited=r["invited"],
        onboarding_id=r["onboarding_id"],
        language=r["language"],
        client_name=r["name"],
        checklist_name=r["checklist_name"] or "",
        item_labels=[str(i["label"]) for i in r["items"] or []],
        invitation=(latest, r["latest_expires_at"]) if latest is not None else None,
    )


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
