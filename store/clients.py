"""The clients table and the client's own users (its director)."""

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
    first_name: str | None
    last_name: str | None
    siret: str | None
    company: dict[str, Any] | None
    tags: list[str]
    case_manager: str | None


_COLUMNS = (
    "id, partner_id, onboarding_id, name, email, language, notifications_muted, status, "
    "template_id, template_version, setup, first_name, last_name, siret, company, tags, "
    "case_manager"
)


class DuplicateSiret(Exception):
    """Another client of the same partner already has this SIRET."""


def _row(record: asyncpg.Record) -> ClientRow:
    return ClientRow(**{k: record[k] for k in _COLUMNS.split(", ")})


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
    first_name: str | None = None,
    last_name: str | None = None,
    siret: str | None = None,
    company: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    case_manager: str | None = None,
    national_number: str | None = None,
    partner_national_number: str | None = None,
) -> tuple[ClientRow, bool]:
    """Create the client of an onboarding once; a replay returns the existing row unchanged.

    Raises DuplicateSiret when the SIRET belongs to another onboarding's client of the partner.
    """
    try:
        record = await pool.fetchrow(
            f"""
            INSERT INTO clients (id, partner_id, onboarding_id, name, email, language,
                                 notifications_muted, setup, template_id, template_version,
                                 first_name, last_name, siret, company, tags, case_manager,
                                 national_number, partner_national_number)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                    $18)
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
            first_name,
            last_name,
            siret,
            company,
            tags or [],
            case_manager,
            national_number,
            partner_national_number,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "clients_partner_siret":
            raise DuplicateSiret(siret) from exc
        raise
    if record is not None:
        return _row(record), True
    existing = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM clients WHERE onboarding_id = $1", onboarding_id
    )
    assert existing is not None
    return _row(existing), False


async def add_director(
    pool: Pool,
    *,
    user_id: uuid.UUID,
    client_id: uuid.UUID,
    email: str,
    first_name: str,
    last_name: str,
    themes: list[str],
) -> bool:
    status = await pool.execute(
        """
        INSERT INTO client_users (id, client_id, email, first_name, last_name, role, themes)
        VALUES ($1, $2, $3, $4, $5, 'director', $6)
        ON CONFLICT DO NOTHING
        """,
        user_id,
        client_id,
        email,
        first_name,
        last_name,
        themes,
    )
    return str(status).endswith(" 1")


async def list_users(pool: Pool, *, client_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, email, first_name, last_name, role, themes FROM client_users "
        "WHERE client_id = $1 ORDER BY created_at, id",
        client_id,
    )
    return [dict(r) for r in rows]


async def get(pool: Pool, *, client_id: uuid.UUID) -> ClientRow | None:
    record = await pool.fetchrow(f"SELECT {_COLUMNS} FROM clients WHERE id = $1", client_id)
    return _row(record) if record else None


async def get_for_partner(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID
) -> ClientRow | None:
    record = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM clients WHERE partner_id = $1 AND id = $2", partner_id, client_id
    )
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


async def siret_owner(pool: Pool, *, partner_id: uuid.UUID, siret: str) -> uuid.UUID | None:
    """The onboarding whose client has this SIRET in this partner, if any."""
    owner: uuid.UUID | None = await pool.fetchval(
        "SELECT onboarding_id FROM clients WHERE partner_id = $1 AND siret = $2", partner_id, siret
    )
    return owner
