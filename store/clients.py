"""The clients table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from store.pool import Pool


@dataclass(frozen=True)
class ClientRow:
    id: uuid.UUID
    partner_id: uuid.UUID
    onboarding_id: uuid.UUID
    name: str
    email: str
    language: str
    notifications_muted: bool
    status: str
    template_id: uuid.UUID | None
    template_version: int | None
    setup: dict[str, Any] | None


_COLUMNS = (
    "id, partner_id, onboarding_id, name, email, language, notifications_muted, status, "
    "template_id, template_version, setup"
)


def _row(record: asyncpg.Record) -> ClientRow:
    return ClientRow(**dict(record))


async def create(
    pool: Pool,
    *,
    client_id: uuid.UUID,
    partner_id: uuid.UUID,
    onboarding_id: uuid.UUID,
    name: str,
    email: str,
    language: str,
    notifications_muted: bool = True,
    setup: dict[str, Any] | None = None,
    template_id: uuid.UUID | None = None,
    template_version: int | None = None,
) -> tuple[ClientRow, bool]:
    """Create the client of an onboarding once; a replay returns the existing row unchanged."""
    record = await pool.fetchrow(
        f"""
        INSERT INTO clients (id, partner_id, onboarding_id, name, email, language,
                             notifications_muted, setup, template_id, template_version)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (onboarding_id) DO NOTHING
        RETURNING {_COLUMNS}
        """,
        client_id,
        partner_id,
        onboarding_id,
        name,
        email,
        language,
        notifications_muted,
        setup,
        template_id,
        template_version,
    )
    if record is not None:
        return _row(record), True
    existing = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM clients WHERE onboarding_id = $1", onboarding_id
    )
    assert existing is not None
    return _row(existing), False


async def get(pool: Pool, *, client_id: uuid.UUID) -> ClientRow | None:
    record = await pool.fetchrow(f"SELECT {_COLUMNS} FROM clients WHERE id = $1", client_id)
    return _row(record) if record else None


async def complete_setup(pool: Pool, *, client_id: uuid.UUID, keep_muted: bool) -> ClientRow:
    """Mark the client ready and, unless asked to stay muted, switch its notifications on."""
    record = await pool.fetchrow(
        f"""
        UPDATE clients
        SET status = 'ready', notifications_muted = (notifications_muted AND $2),
            updated_at = now()
        WHERE id = $1
        RETURNING {_COLUMNS}
        """,
        client_id,
        keep_muted,
    )
    if record is None:
        raise LookupError(f"client {client_id} does not exist")
    return _row(record)


async def get_for_partner(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID
) -> ClientRow | None:
    record = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM clients WHERE partner_id = $1 AND id = $2", partner_id, client_id
    )
    return _row(record) if record else None
