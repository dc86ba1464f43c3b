"""The e-mail log: one row per (onboarding, purpose, sequence), which makes sends idempotent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from store.pool import Pool


@dataclass(frozen=True)
class EmailLogRow:
    onboarding_id: uuid.UUID
    purpose: str
    sequence: int
    recipient: str
    subject: str
    message_id: str
    status: str
    attempts: int
    last_error: str | None


_COLUMNS = (
    "onboarding_id, purpose, sequence, recipient, subject, message_id, status, attempts, last_error"
)


def _row(record: asyncpg.Record) -> EmailLogRow:
    return EmailLogRow(**dict(record))


async def reserve(
    pool: Pool,
    *,
    onboarding_id: uuid.UUID,
    purpose: str,
    sequence: int,
    recipient: str,
    subject: str,
    message_id: str,
    status: str = "pending",
) -> EmailLogRow:
    """Record the intent to send before talking to SMTP; return the row as it now stands.

    Each call counts one attempt, so the log shows how often a send was tried.
    """
    record = await pool.fetchrow(
        f"""
        INSERT INTO email_log (onboarding_id, purpose, sequence, recipient, subject, message_id,
                               status, attempts)
        VALUES ($1, $2, $3, $4, $5, $6, $7, 1)
        ON CONFLICT (onboarding_id, purpose, sequence)
        DO UPDATE SET attempts = email_log.attempts + 1
        RETURNING {_COLUMNS}
        """,
        onboarding_id,
        purpose,
        sequence,
        recipient,
        subject,
        message_id,
        status,
    )
    assert record is not None
    return _row(record)


async def mark(
    pool: Pool,
    *,
    onboarding_id: uuid.UUID,
    purpose: str,
    sequence: int,
    status: str,
    error: str | None = None,
) -> None:
    await pool.execute(
        """
        UPDATE email_log
        SET status = $4, last_error = $5,
            sent_at = CASE WHEN $4 = 'sent' THEN now() ELSE sent_at END
        WHERE onboarding_id = $1 AND purpose = $2 AND sequence = $3
        """,
        onboarding_id,
        purpose,
        sequence,
        status,
        error,
    )


async def list_for_onboarding(pool: Pool, *, onboarding_id: uuid.UUID) -> list[EmailLogRow]:
    records = await pool.fetch(
        f"SELECT {_COLUMNS} FROM email_log WHERE onboarding_id = $1 ORDER BY created_at, sequence",
        onboarding_id,
    )
    return [_row(r) for r in records]
