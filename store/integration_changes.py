"""A client's integration changes after onboarding (add, reconfigure, remove): who asked what and
when, how it ended, and the client's integration row moved to where the change puts it.

A change's secret setting values live in its own row (`secrets`), read by the connect activity
only: no listing selects them, and erasure (store/erasure.py) scrubs them with the onboarding's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

from store.applied_setup import _INTEGRATION_COLUMNS, IntegrationRow, _integration
from store.pool import Conn, Pool

Action = Literal["add", "reconfigure", "remove"]
ChangeState = Literal["running", "done", "failed"]


class ChangeRunning(Exception):
    """Another change of the same app of the client has not finished."""


@dataclass(frozen=True)
class ChangeRow:
    id: uuid.UUID
    client_id: uuid.UUID
    code: str
    action: str
    settings: dict[str, Any]
    request_hash: str
    requested_by: uuid.UUID | None
    requested_by_name: str | None
    requested_at: datetime
    state: str
    error: str | None
    finished_at: datetime | None


_COLUMNS = (
    "c.id, c.client_id, c.code, c.action, c.settings, c.request_hash, c.requested_by, "
    "u.name AS requested_by_name, c.requested_at, c.state, c.error, c.finished_at"
)
_FROM = "client_integration_changes c LEFT JOIN partner_users u ON u.id = c.requested_by"


def _row(r: asyncpg.Record) -> ChangeRow:
    return ChangeRow(**dict(r))


async def _by_id(conn: Pool | Conn, change_id: uuid.UUID) -> ChangeRow | None:
    r = await conn.fetchrow(f"SELECT {_COLUMNS} FROM {_FROM} WHERE c.id = $1", change_id)
    return _row(r) if r else None


async def begin(
    pool: Pool,
    *,
    change_id: uuid.UUID,
    client_id: uuid.UUID,
    code: str,
    kind: str,
    action: Action,
    settings: dict[str, Any],
    secrets: dict[str, Any],
    idempotency_key: str | None,
    request_hash: str,
    requested_by: uuid.UUID,
) -> tuple[ChangeRow, bool]:
    """Record the change and move the client's integration row to `connecting` (add,
    reconfigure) or `disconnecting` (remove), in one transaction; (change, created).

    The same Idempotency-Key again answers the change it made (created False) and moves
    nothing; ChangeRunning when another change of the app has not finished."""
    async with pool.acquire() as conn, conn.transaction():
        if idempotency_key is not None:
            r = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM {_FROM} WHERE c.client_id = $1 AND c.idempotency_key = $2",
                client_id,
                idempotency_key,
            )
            if r is not None:
                return _row(r), False
        try:
            async with conn.transaction():
                await conn.execute(
                    """
                    INSERT INTO client_integration_changes
                        (id, client_id, code, action, settings, secrets, idempotency_key,
                         request_hash, requested_by)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                    """,
                    change_id,
                    client_id,
                    code,
                    action,
                    settings,
                    secrets,
                    idempotency_key,
                    request_hash,
                    requested_by,
                )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "client_integration_changes_running":
                raise ChangeRunning(code) from None
            # The same key, recorded by a concurrent request since the read above.
            r = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM {_FROM} WHERE c.client_id = $1 AND c.idempotency_key = $2",
                client_id,
                idempotency_key,
            )
            assert r is not None  # the row that won the race
            return _row(r), False
        state = "disconnecting" if action == "remove" else "connecting"
        # A new change starts from nothing: its attempts and errors are its own. Settings stay
        # those last asked for when removing, for the history to say what was removed.
        await conn.execute(
            """
            INSERT INTO client_integrations AS ci
                (client_id, code, kind, state, attempts, change_id, settings)
            VALUES ($1, $2, $3, $4, 0, $5, $6)
            ON CONFLICT (client_id, code) DO UPDATE SET
                kind = EXCLUDED.kind,
                state = EXCLUDED.state,
                attempts = 0,
                last_error = NULL,
                connected_at = CASE WHEN EXCLUDED.state = 'disconnecting' THEN ci.connected_at END,
                change_id = EXCLUDED.change_id,
                settings = CASE WHEN EXCLUDED.state = 'disconnecting' THEN ci.settings
                                ELSE EXCLUDED.settings END,
                updated_at = now()
            """,
            client_id,
            code,
            kind,
            state,
            change_id,
            None if action == "remove" else settings,
        )
        row = await _by_id(conn, change_id)
        assert row is not None  # inserted above
        return row, True


async def get(pool: Pool | Conn, *, client_id: uuid.UUID, change_id: uuid.UUID) -> ChangeRow | None:
    row = await _by_id(pool, change_id)
    return row if row is not None and row.client_id == client_id else None


async def list_for_client(
    pool: Pool | Conn, *, client_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[ChangeRow], int]:
    """The client's changes, newest first, and how many there are."""
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE c.client_id = $1 "
        "ORDER BY c.requested_at DESC, c.id LIMIT $2 OFFSET $3",
        client_id,
        limit,
        offset,
    )
    total = await pool.fetchval(
        "SELECT count(*) FROM client_integration_changes WHERE client_id = $1", client_id
    )
    return [_row(r) for r in rows], int(total)


async def secrets(pool: Pool, *, change_id: uuid.UUID) -> dict[str, Any]:
    """The real secret values of one change; never log the result."""
    value = await pool.fetchval(
        "SELECT secrets FROM client_integration_changes WHERE id = $1", change_id
    )
    return dict(value or {})


async def last_secrets(pool: Pool, *, client_id: uuid.UUID, code: str) -> dict[str, Any] | None:
    """The secrets of the app's latest add or reconfigure change; None when no change ever set
    them (they are then the onboarding's)."""
    value = await pool.fetchval(
        """
        SELECT secrets FROM client_integration_changes
        WHERE client_id = $1 AND code = $2 AND action <> 'remove'
        ORDER BY requested_at DESC, id LIMIT 1
        """,
        client_id,
        code,
    )
    return None if value is None else dict(value)


async def finish(
    pool: Pool, *, change_id: uuid.UUID, state: ChangeState, error: str | None
) -> None:
    """The change's outcome; a replayed write of the same outcome changes nothing."""
    await pool.execute(
        """
        UPDATE client_integration_changes
        SET state = $2, error = $3, finished_at = COALESCE(finished_at, now())
        WHERE id = $1 AND state = 'running'
        """,
        change_id,
        state,
        error,
    )


async def mark_removed(
    pool: Pool, *, client_id: uuid.UUID, code: str, change_id: uuid.UUID
) -> IntegrationRow | None:
    """The app is disconnected: the row says removed (kept, for its history and external ref)."""
    r = await pool.fetchrow(
        f"""
        UPDATE client_integrations SET state = 'removed', last_error = NULL, updated_at = now()
        WHERE client_id = $1 AND code = $2 AND change_id = $3
        RETURNING {_INTEGRATION_COLUMNS}
        """,
        client_id,
        code,
        change_id,
    )
    return _integration(r) if r else None


async def record_disconnect_failure(
    pool: Pool, *, client_id: uuid.UUID, code: str, change_id: uuid.UUID, error: str
) -> None:
    """A failed disconnection attempt: the row stays disconnecting and says why."""
    await pool.execute(
        """
        UPDATE client_integrations
        SET last_error = $4, attempts = attempts + 1, updated_at = now()
        WHERE client_id = $1 AND code = $2 AND change_id = $3
        """,
        client_id,
        code,
        change_id,
        error,
    )


async def by_key(
    pool: Pool | Conn, *, client_id: uuid.UUID, idempotency_key: str
) -> ChangeRow | None:
    """The change a request with this Idempotency-Key made, if any."""
    r = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE c.client_id = $1 AND c.idempotency_key = $2",
        client_id,
        idempotency_key,
    )
    return _row(r) if r else None
