"""The onboardings table: the database projection of each onboarding workflow."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from store.pool import Pool


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


# Never `*`: the secrets column stays in the database unless a function asks for it by name.
_COLUMNS = (
    "id, partner_id, idempotency_key, request_hash, workflow_id, status, created_at, updated_at, "
    "case_manager"
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
) -> tuple[OnboardingRow, bool]:
    """Insert the onboarding unless the (partner, key) pair exists; return (row, created)."""
    record = await pool.fetchrow(
        f"""
        INSERT INTO onboardings (id, partner_id, idempotency_key, request_hash, workflow_id, status,
                                 created_by, secrets, case_manager, import_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
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
    record = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM onboardings WHERE partner_id = $1 AND id = $2",
        partner_id,
        onboarding_id,
    )
    return _row(record) if record else None


async def set_status(pool: Pool, *, onboarding_id: uuid.UUID, status: str) -> None:
    await pool.execute(
        "UPDATE onboardings SET status = $2, updated_at = now() WHERE id = $1",
        onboarding_id,
        status,
    )


async def list_for_partner(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    status: str | None = None,
    case_manager: str | None = None,
    limit: int = 50,
) -> list[OnboardingRow]:
    records = await pool.fetch(
        f"""
        SELECT {_COLUMNS} FROM onboardings
        WHERE partner_id = $1 AND ($2::text IS NULL OR status = $2)
          AND ($3::text IS NULL OR case_manager = $3)
        ORDER BY created_at DESC, id
        LIMIT $4
        """,
        partner_id,
        status,
        case_manager,
        limit,
    )
    return [_row(r) for r in records]


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
