"""A partner's catalogs: plans (with add-ons), integrations, folder-tree templates.

The three share one shape (partner, code, jsonb body), so one set of functions serves them; the
table name only ever comes from the `Catalog` literal below, never from input.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from store.pool import Conn, Pool

CatalogTable = Literal["plans", "integrations", "folder_trees"]


async def create(
    pool: Pool, table: CatalogTable, *, partner_id: uuid.UUID, code: str, body: dict[str, Any]
) -> bool:
    """False when the code is already taken for this partner."""
    status = await pool.execute(
        f"INSERT INTO {table} (partner_id, code, body) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        partner_id,
        code,
        body,
    )
    return str(status).endswith(" 1")


async def get(
    pool: Pool | Conn, table: CatalogTable, *, partner_id: uuid.UUID, code: str
) -> dict[str, Any] | None:
    body: dict[str, Any] | None = await pool.fetchval(
        f"SELECT body FROM {table} WHERE partner_id = $1 AND code = $2", partner_id, code
    )
    return body


async def list_(
    pool: Pool, table: CatalogTable, *, partner_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    rows = await pool.fetch(
        f"""
        SELECT body, count(*) OVER () AS total FROM {table} WHERE partner_id = $1
        ORDER BY code LIMIT $2 OFFSET $3
        """,
        partner_id,
        limit,
        offset,
    )
    if rows:
        return [r["body"] for r in rows], int(rows[0]["total"])
    total = await pool.fetchval(f"SELECT count(*) FROM {table} WHERE partner_id = $1", partner_id)
    return [], int(total)


async def all_bodies(
    pool: Pool, table: CatalogTable, *, partner_id: uuid.UUID
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT body FROM {table} WHERE partner_id = $1 ORDER BY code", partner_id
    )
    return [r["body"] for r in rows]


async def replace(
    pool: Pool, table: CatalogTable, *, partner_id: uuid.UUID, code: str, body: dict[str, Any]
) -> bool:
    status = await pool.execute(
        f"UPDATE {table} SET body = $3, updated_at = now() WHERE partner_id = $1 AND code = $2",
        partner_id,
        code,
        body,
    )
    return str(status).endswith(" 1")


async def delete(pool: Pool, table: CatalogTable, *, partner_id: uuid.UUID, code: str) -> bool:
    status = await pool.execute(
        f"DELETE FROM {table} WHERE partner_id = $1 AND code = $2", partner_id, code
    )
    return str(status).endswith(" 1")


async def codes(pool: Pool, table: CatalogTable, *, partner_id: uuid.UUID) -> set[str]:
    rows = await pool.fetch(f"SELECT code FROM {table} WHERE partner_id = $1", partner_id)
    return {r["code"] for r in rows}


async def ever_secret(pool: Pool | Conn, *, partner_id: uuid.UUID, code: str) -> set[str]:
    """The setting names integration `code` was ever declared secret under (kept by a trigger
    on `integrations`, never deleted; store/migrations/0017)."""
    rows = await pool.fetch(
        "SELECT name FROM integration_secret_settings WHERE partner_id = $1 AND code = $2",
        partner_id,
        code,
    )
    return {r["name"] for r in rows}
