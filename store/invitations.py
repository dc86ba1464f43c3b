"""The invitations table: which token (by hash) invites whom, until when, and its use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from store.pool import Conn, Pool


@dataclass(frozen=True)
class InvitationRow:
    onboarding_id: uuid.UUID
    sequence: int
    recipient: str
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


_COLUMNS = "onboarding_id, sequence, recipient, expires_at, accepted_at, revoked_at"


def _row(r: asyncpg.Record) -> InvitationRow:
    return InvitationRow(**{k: r[k] for k in _COLUMNS.split(", ")})


async def record(
    pool: Pool,
    *,
    onboarding_id: uuid.UUID,
    sequence: int,
    token_hash: str,
    recipient: str,
    expires_at: datetime,
) -> None:
    """Record an invitation once, and revoke the earlier ones: a resend replaces them."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """
            INSERT INTO invitations (onboarding_id, sequence, token_hash, recipient, expires_at)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
            """,
            onboarding_id,
            sequence,
            token_hash,
            recipient,
            expires_at,
        )
        await conn.execute(
            """
            UPDATE invitations SET revoked_at = now()
            WHERE onboarding_id = $1 AND sequence < $2 AND revoked_at IS NULL
              AND accepted_at IS NULL
            """,
            onboarding_id,
            sequence,
        )


async def find(pool: Pool | Conn, *, token_hash: str) -> InvitationRow | None:
    r = await pool.fetchrow(f"SELECT {_COLUMNS} FROM invitations WHERE token_hash = $1", token_hash)
    return _row(r) if r else None


async def mark_accepted(conn: Conn, *, token_hash: str) -> InvitationRow | None:
    """Use the token: None when it was already used or revoked (single use)."""
    r = await conn.fetchrow(
        f"""
        UPDATE invitations SET accepted_at = now()
        WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL
        RETURNING {_COLUMNS}
        """,
        token_hash,
    )
    return _row(r) if r else None
