"""Bulk imports and their rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from store.pool import Pool


@dataclass(frozen=True)
class ImportRow:
    id: uuid.UUID
    partner_id: uuid.UUID
    idempotency_key: str
    request_hash: str
    workflow_id: str
    filename: str
    total_rows: int
    valid_rows: int
    created_at: datetime


@dataclass(frozen=True)
class RowRecord:
    row: int
    siret: str | None
    request: dict[str, Any] | None
    errors: list[dict[str, Any]]
    onboarding_id: uuid.UUID | None
    skipped: str | None


_COLUMNS = (
    "id, partner_id, idempotency_key, request_hash, workflow_id, filename, total_rows, "
    "valid_rows, created_at"
)
_ROW_COLUMNS = "row, siret, request, errors, onboarding_id, skipped"


def _import(r: asyncpg.Record) -> ImportRow:
    return ImportRow(**{k: r[k] for k in _COLUMNS.split(", ")})


def _row(r: asyncpg.Record) -> RowRecord:
    return RowRecord(**{k: r[k] for k in _ROW_COLUMNS.split(", ")})


async def create(
    pool: Pool,
    *,
    import_id: uuid.UUID,
    partner_id: uuid.UUID,
    idempotency_key: str,
    request_hash: str,
    workflow_id: str,
    filename: str,
    created_by: uuid.UUID,
    rows: list[tuple[int, str | None, dict[str, Any] | None, list[dict[str, Any]]]],
) -> tuple[ImportRow, bool]:
    """Store the import and every row (valid or not) once; a replay returns the first one."""
    async with pool.acquire() as conn, conn.transaction():
        r = await conn.fetchrow(
            f"""
            INSERT INTO imports (id, partner_id, idempotency_key, request_hash, workflow_id,
                                 filename, total_rows, valid_rows, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (partner_id, idempotency_key) DO NOTHING
            RETURNING {_COLUMNS}
            """,
            import_id,
            partner_id,
            idempotency_key,
            request_hash,
            workflow_id,
            filename,
            len(rows),
            sum(1 for _, _, request, _ in rows if request is not None),
            created_by,
        )
        if r is None:
            existing = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM imports WHERE partner_id = $1 AND idempotency_key = $2",
                partner_id,
                idempotency_key,
            )
            assert existing is not None
            return _import(existing), False
        await conn.executemany(
            """
            INSERT INTO import_rows (import_id, row, siret, request, errors)
            VALUES ($1, $2, $3, $4, $5)
            """,
            [(import_id, n, siret, request, errors) for n, siret, request, errors in rows],
        )
    return _import(r), True


async def get(pool: Pool, *, partner_id: uuid.UUID, import_id: uuid.UUID) -> ImportRow | None:
    r = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM imports WHERE partner_id = $1 AND id = $2", partner_id, import_id
    )
    return _import(r) if r else None


async def valid_rows_after(
    pool: Pool, *, import_id: uuid.UUID, after_row: int, limit: int
) -> list[RowRecord]:
    records = await pool.fetch(
        f"""
        SELECT {_ROW_COLUMNS} FROM import_rows
        WHERE import_id = $1 AND row > $2 AND request IS NOT NULL
        ORDER BY row LIMIT $3
        """,
        import_id,
        after_row,
        limit,
    )
    return [_row(r) for r in records]


async def link_row(
    pool: Pool,
    *,
    import_id: uuid.UUID,
    row: int,
    onboarding_id: uuid.UUID | None,
    skipped: str | None,
) -> None:
    await pool.execute(
        "UPDATE import_rows SET onboarding_id = $3, skipped = $4 WHERE import_id = $1 AND row = $2",
        import_id,
        row,
        onboarding_id,
        skipped,
    )


async def settled_rows(
    pool: Pool, *, import_id: uuid.UUID, rows: list[int]
) -> list[tuple[int, str]]:
    """Which of these rows settled, with the first status that settled them."""
    records = await pool.fetch(
        """
        SELECT row, settled_status FROM import_rows
        WHERE import_id = $1 AND row = ANY($2::int[]) AND settled_status IS NOT NULL
        ORDER BY row
        """,
        import_id,
        rows,
    )
    return [(r["row"], r["settled_status"]) for r in records]


async def report(pool: Pool, *, import_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every row with its outcome: errors, skip reason, or its onboarding's status."""
    records = await pool.fetch(
        """
        SELECT r.row, r.siret, r.errors, r.onboarding_id, r.skipped, o.status
        FROM import_rows r LEFT JOIN onboardings o ON o.id = r.onboarding_id
        WHERE r.import_id = $1 ORDER BY r.row
        """,
        import_id,
    )
    return [dict(r) for r in records]


async def counts(pool: Pool, *, import_id: uuid.UUID) -> dict[str, int]:
    """Onboardings of the import by status (the projection the workflows keep current)."""
    records = await pool.fetch(
        "SELECT status, count(*) AS n FROM onboardings WHERE import_id = $1 GROUP BY status",
        import_id,
    )
    return {r["status"]: int(r["n"]) for r in records}


async def release_rows(pool: Pool, *, import_id: uuid.UUID, rows: list[int], reason: str) -> int:
    """Give back the onboardings claimed for rows never started (the import was cancelled):
    no workflow will run them, so they must not linger as SETTING_UP. Safe to repeat."""
    async with pool.acquire() as conn, conn.transaction():
        claimed = await conn.fetch(
            """
            SELECT r.row, r.onboarding_id FROM import_rows r
            WHERE r.import_id = $1 AND r.row = ANY($2::int[]) AND r.onboarding_id IS NOT NULL
              -- a row with a client was started after all: it keeps its onboarding
              AND NOT EXISTS (SELECT 1 FROM clients c WHERE c.onboarding_id = r.onboarding_id)
            FOR UPDATE OF r
            """,
            import_id,
            rows,
        )
        await conn.execute(
            """
            UPDATE import_rows SET onboarding_id = NULL, skipped = $3
            WHERE import_id = $1 AND row = ANY($2::int[])
            """,
            import_id,
            [r["row"] for r in claimed],
            reason,
        )
        await conn.execute(
            "DELETE FROM onboardings WHERE id = ANY($1::uuid[]) AND import_id = $2",
            [r["onboarding_id"] for r in claimed],
            import_id,
        )
    return len(claimed)


async def started(pool: Pool, *, import_id: uuid.UUID) -> bool:
    """Whether the import ever ran: a row has an onboarding or was skipped (kept only, none)."""
    found: bool = await pool.fetchval(
        """
        SELECT EXISTS (
            SELECT 1 FROM import_rows
            WHERE import_id = $1 AND (onboarding_id IS NOT NULL OR skipped IS NOT NULL)
        )
        """,
        import_id,
    )
    return found


@dataclass(frozen=True)
class ImportListRow:
    id: uuid.UUID
    filename: str
    total_rows: int
    valid_rows: int
    created_at: datetime
    onboardings: int  # rows with an onboarding so far


async def list_for_partner(pool: Pool, *, partner_id: uuid.UUID, limit: int) -> list[ImportListRow]:
    """The partner's imports, newest first."""
    records = await pool.fetch(
        """
        SELECT i.id, i.filename, i.total_rows, i.valid_rows, i.created_at,
               (SELECT count(*) FROM import_rows r
                WHERE r.import_id = i.id AND r.onboarding_id IS NOT NULL) AS onboardings
        FROM imports i WHERE i.partner_id = $1
        ORDER BY i.created_at DESC, i.id LIMIT $2
        """,
        partner_id,
        limit,
    )
    return [ImportListRow(**{k: r[k] for k in ImportListRow.__dataclass_fields__}) for r in records]


async def first_started_at(pool: Pool, *, import_id: uuid.UUID) -> datetime | None:
    """When the import's first onboarding was started (None before any)."""
    found: datetime | None = await pool.fetchval(
        "SELECT min(created_at) FROM onboardings WHERE import_id = $1", import_id
    )
    return found
