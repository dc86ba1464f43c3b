"""The client_company_lookups and client_company_corrections tables: the registry's record a
client was made from, later re-lookups, and staff corrections of the company's fields."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from store.pool import Conn, Pool

# The company fields staff may correct, and where each lives on the client: the name names the
# client (clients.name), the others live in the company record the client keeps (clients.company).
CORRECTABLE = ("name", "address", "legal_form")


@dataclass(frozen=True)
class LookupRow:
    id: int
    client_id: uuid.UUID
    kind: str
    source: str
    outcome: str
    fields: dict[str, Any] | None
    looked_up_at: datetime
    requested_by: uuid.UUID | None


@dataclass(frozen=True)
class CorrectionRow:
    id: int
    client_id: uuid.UUID
    field: str
    old_value: str | None
    new_value: str | None
    origin: str
    corrected_by: uuid.UUID | None
    corrected_at: datetime


_LOOKUP_COLUMNS = "id, client_id, kind, source, outcome, fields, looked_up_at, requested_by"
_CORRECTION_COLUMNS = (
    "id, client_id, field, old_value, new_value, origin, corrected_by, corrected_at"
)


def _lookup(record: asyncpg.Record) -> LookupRow:
    return LookupRow(**dict(record))


async def record_creation(
    pool: Pool | Conn, *, client_id: uuid.UUID, source: str, fields: dict[str, Any]
) -> bool:
    """Keep the record the client was made from, once; False when it is kept already."""
    status = await pool.execute(
        """
        INSERT INTO client_company_lookups (client_id, kind, source, outcome, fields)
        VALUES ($1, 'creation', $2, 'found', $3)
        ON CONFLICT (client_id) WHERE kind = 'creation' DO NOTHING
        """,
        client_id,
        source,
        fields,
    )
    return str(status).endswith(" 1")


async def record_relookup(
    pool: Pool | Conn,
    *,
    client_id: uuid.UUID,
    source: str,
    outcome: str,
    fields: dict[str, Any] | None,
    requested_by: uuid.UUID | None,
) -> LookupRow:
    record = await pool.fetchrow(
        f"""
        INSERT INTO client_company_lookups
            (client_id, kind, source, outcome, fields, requested_by)
        VALUES ($1, 'relookup', $2, $3, $4, $5)
        RETURNING {_LOOKUP_COLUMNS}
        """,
        client_id,
        source,
        outcome,
        fields,
        requested_by,
    )
    assert record is not None
    return _lookup(record)


async def creation_record(pool: Pool | Conn, *, client_id: uuid.UUID) -> LookupRow | None:
    record = await pool.fetchrow(
        f"SELECT {_LOOKUP_COLUMNS} FROM client_company_lookups "
        "WHERE client_id = $1 AND kind = 'creation'",
        client_id,
    )
    return _lookup(record) if record else None


async def latest_lookups(pool: Pool | Conn, *, client_id: uuid.UUID, limit: int) -> list[LookupRow]:
    """The client's look-ups, newest first (the creation record last of all)."""
    records = await pool.fetch(
        f"SELECT {_LOOKUP_COLUMNS} FROM client_company_lookups WHERE client_id = $1 "
        "ORDER BY id DESC LIMIT $2",
        client_id,
        limit,
    )
    return [_lookup(r) for r in records]


async def latest_found(
    pool: Pool | Conn, *, client_id: uuid.UUID, before_id: int | None = None
) -> LookupRow | None:
    """The newest look-up that found the company (before `before_id` when given)."""
    record = await pool.fetchrow(
        f"""
        SELECT {_LOOKUP_COLUMNS} FROM client_company_lookups
        WHERE client_id = $1 AND outcome = 'found' AND ($2::bigint IS NULL OR id < $2)
        ORDER BY id DESC LIMIT 1
        """,
        client_id,
        before_id,
    )
    return _lookup(record) if record else None


async def correct(
    pool: Pool,
    *,
    client_id: uuid.UUID,
    values: dict[str, str | None],
    origin: str,
    corrected_by: uuid.UUID | None,
) -> list[CorrectionRow]:
    """Set the company fields in `values` on the client and date each change in the history,
    in one transaction; a value equal to the current one records nothing."""
    async with pool.acquire() as conn, conn.transaction():
        current = await conn.fetchrow(
            "SELECT name, company FROM clients WHERE id = $1 FOR UPDATE", client_id
        )
        if current is None:
            raise LookupError(f"client {client_id} does not exist")
        company = dict(current["company"] or {})
        before = {
            "name": current["name"],
            "address": company.get("address"),
            "legal_form": company.get("legal_form"),
        }
        changed = {f: v for f, v in values.items() if f in CORRECTABLE and before[f] != v}
        if not changed:
            return []
        company.update(changed)
        await conn.execute(
            """
            UPDATE clients SET name = COALESCE($2, name), company = $3, updated_at = now()
            WHERE id = $1
            """,
            client_id,
            changed.get("name"),
            company,
        )
        rows = []
        for field, value in changed.items():
            record = await conn.fetchrow(
                f"""
                INSERT INTO client_company_corrections
                    (client_id, field, old_value, new_value, origin, corrected_by)
                VALUES ($1, $2, $3, $4, $5, $6)
                RETURNING {_CORRECTION_COLUMNS}
                """,
                client_id,
                field,
                before[field],
                value,
                origin,
                corrected_by,
            )
            assert record is not None
            rows.append(CorrectionRow(**dict(record)))
        return rows


async def corrections(
    pool: Pool | Conn, *, client_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[CorrectionRow], int]:
    """The client's corrections, newest first, and how many there are in all."""
    records = await pool.fetch(
        f"""
        SELECT {_CORRECTION_COLUMNS}, count(*) OVER () AS total
        FROM client_company_corrections WHERE client_id = $1
        ORDER BY id DESC LIMIT $2 OFFSET $3
        """,
        client_id,
        limit,
        offset,
    )
    total = int(records[0]["total"]) if records else 0
    if not records and offset:
        total = int(
            await pool.fetchval(
                "SELECT count(*) FROM client_company_corrections WHERE client_id = $1", client_id
            )
        )
    rows = [CorrectionRow(**{k: r[k] for k in _CORRECTION_COLUMNS.split(", ")}) for r in records]
    return rows, total
