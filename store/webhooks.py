"""Webhook endpoints and the delivery outbox (transactional: events are written with the change
they report), claimed by the worker's delivery loop with FOR UPDATE SKIP LOCKED and a lease."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import asyncpg

from store.pool import Conn, Pool, snapshot


class EventType(StrEnum):
    onboarding_ready = "onboarding.ready"
    onboarding_awaiting_company_details = "onboarding.awaiting_company_details"
    onboarding_waiting_for_unmute = "onboarding.waiting_for_unmute"
    onboarding_needs_attention = "onboarding.needs_attention"
    onboarding_failed = "onboarding.failed"
    onboarding_completed = "onboarding.completed"
    invitation_sent = "invitation.sent"
    invitation_accepted = "invitation.accepted"
    invitation_expired = "invitation.expired"
    invitation_bounced = "invitation.bounced"
    import_finished = "import.finished"
    checklist_completed = "checklist.completed"


# The onboarding statuses a partner hears about; SETTING_UP (the start, or a resumed step) is not
# one. WAITING_FOR_UNMUTE is listed ahead of the status itself: the day the workflow writes it,
# its event flows with no change here.
STATUS_EVENTS: dict[str, EventType] = {
    "READY": EventType.onboarding_ready,
    "AWAITING_COMPANY_DETAILS": EventType.onboarding_awaiting_company_details,
    "WAITING_FOR_UNMUTE": EventType.onboarding_waiting_for_unmute,
    "NEEDS_ATTENTION": EventType.onboarding_needs_attention,
    "FAILED": EventType.onboarding_failed,
    "COMPLETED": EventType.onboarding_completed,
}


@dataclass(frozen=True)
class EndpointRow:
    id: uuid.UUID
    partner_id: uuid.UUID
    url: str
    event_types: list[str]
    created_at: datetime
    previous_secret_until: datetime | None
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None


# Never the secrets: only the functions that sign ask for them by name.
_ENDPOINT = (
    "id, partner_id, url, event_types, created_at, previous_secret_until, failing_since, "
    "disabled_at, disabled_reason"
)


def _endpoint(r: asyncpg.Record) -> EndpointRow:
    return EndpointRow(**{k: r[k] for k in _ENDPOINT.split(", ")})


@dataclass(frozen=True)
class AttemptRow:
    attempt: int
    started_at: datetime
    status_code: int | None
    latency_ms: int | None
    error: str | None


@dataclass(frozen=True)
class DeliveryRow:
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: str
    event_type: str
    ordering_key: str
    payload: dict[str, Any]
    created_at: datetime
    state: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    delivered_at: datetime | None
    log: list[AttemptRow]


_DELIVERY = (
    "id, endpoint_id, event_id, event_type, ordering_key, payload, created_at, state, attempts, "
    "next_attempt_at, last_status_code, last_latency_ms, last_error, delivered_at"
)


# ---- emitting -----------------------------------------------------------------------------------
# Events are written by triggers (migration 0011) in the transaction of the change they report:
# webhook_emit() chooses the partner's subscribed endpoints. The Python side only reads them.


# ---- endpoints ----------------------------------------------------------------------------------


class EndpointExists(Exception):
    """An endpoint with the id asked for is there already (the same form sent twice)."""


async def create_endpoint(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    url: str,
    event_types: list[str],
    secret: str,
    created_by: uuid.UUID,
    endpoint_id: uuid.UUID | None = None,
) -> EndpointRow:
    r = await pool.fetchrow(
        f"""
        INSERT INTO webhook_endpoints (id, partner_id, url, event_types, secret, created_by)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (id) DO NOTHING
        RETURNING {_ENDPOINT}
        """,
        endpoint_id or uuid.uuid4(),
        partner_id,
        url,
        event_types,
        secret,
        created_by,
    )
    if r is None:
        raise EndpointExists
    return _endpoint(r)


async def list_endpoints(
    pool: Pool, *, partner_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[EndpointRow], int]:
    records = await pool.fetch(
        f"""
        SELECT {_ENDPOINT}, count(*) OVER () AS total FROM webhook_endpoints
        WHERE partner_id = $1 AND deleted_at IS NULL
        ORDER BY created_at, id LIMIT $2 OFFSET $3
        """,
        partner_id,
        limit,
        offset,
    )
    if records:
        return [_endpoint(r) for r in records], int(records[0]["total"])
    total = await pool.fetchval(
        "SELECT count(*) FROM webhook_endpoints WHERE partner_id = $1 AND deleted_at IS NULL",
        partner_id,
    )
    return [], int(total)


async def get_endpoint(
    pool: Pool, *, partner_id: uuid.UUID, endpoint_id: uuid.UUID
) -> EndpointRow | None:
    r = await pool.fetchrow(
        f"""
        SELECT {_ENDPOINT} FROM webhook_endpoints
        WHERE partner_id = $1 AND id = $2 AND deleted_at IS NULL
        """,
        partner_id,
        endpoint_id,
    )
    return _endpoint(r) if r else None


async def delete_endpoint(pool: Pool, *, partner_id: uuid.UUID, endpoint_id: uuid.UUID) -> bool:
    """Stop the endpoint; its pending deliveries are given up. Its log stays for the audit."""
    async with pool.acquire() as conn, conn.transaction():
        found = await conn.fetchval(
            """
            UPDATE webhook_endpoints
            -- The secrets go with it: nothing will be signed for this endpoint again.
            SET deleted_at = now(), secret = '', previous_secret = NULL
            WHERE partner_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING id
            """,
            partner_id,
            endpoint_id,
        )
        if found is None:
            return False
        await conn.execute(
            """
            UPDATE webhook_deliveries SET state = 'failed', last_error = 'endpoint deleted',
                   lease_until = NULL
            WHERE endpoint_id = $1 AND state = 'pending'
            """,
            endpoint_id,
        )
    return True


async def enable_endpoint(
    pool: Pool, *, partner_id: uuid.UUID, endpoint_id: uuid.UUID
) -> EndpointRow | None:
    """Take a disabled endpoint back into service; its pending deliveries resume, in order."""
    r = await pool.fetchrow(
        f"""
        UPDATE webhook_endpoints
        SET disabled_at = NULL, disabled_reason = NULL, disabled_notified_at = NULL,
            failing_since = NULL
        WHERE partner_id = $1 AND id = $2 AND deleted_at IS NULL
        RETURNING {_ENDPOINT}
        """,
        partner_id,
        endpoint_id,
    )
    return _endpoint(r) if r else None


async def rotate_secret(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    secret: str,
    grace: timedelta,
) -> EndpointRow | None:
    """Make `secret` current; the one it replaces keeps signing too for `grace`.

    A second rotation inside the grace period retires the oldest secret: at most two sign.
    """
    r = await pool.fetchrow(
        f"""
        UPDATE webhook_endpoints
        SET previous_secret = secret, previous_secret_until = now() + $4::interval, secret = $3
        WHERE partner_id = $1 AND id = $2 AND deleted_at IS NULL
        RETURNING {_ENDPOINT}
        """,
        partner_id,
        endpoint_id,
        secret,
        grace,
    )
    return _endpoint(r) if r else None


# ---- the delivery log ---------------------------------------------------------------------------


async def _with_log(pool: Pool | Conn, records: list[asyncpg.Record]) -> list[DeliveryRow]:
    ids = [r["id"] for r in records]
    attempts = await pool.fetch(
        """
        SELECT delivery_id, attempt, started_at, status_code, latency_ms, error
        FROM webhook_attempts WHERE delivery_id = ANY($1::uuid[]) ORDER BY delivery_id, attempt
        """,
        ids,
    )
    by_delivery: dict[uuid.UUID, list[AttemptRow]] = {i: [] for i in ids}
    for a in attempts:
        by_delivery[a["delivery_id"]].append(
            AttemptRow(
                attempt=a["attempt"],
                started_at=a["started_at"],
                status_code=a["status_code"],
                latency_ms=a["latency_ms"],
                error=a["error"],
            )
        )
    return [
        DeliveryRow(**{k: r[k] for k in _DELIVERY.split(", ")}, log=by_delivery[r["id"]])
        for r in records
    ]


async def list_deliveries(
    pool: Pool, *, endpoint_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[DeliveryRow], int]:
    """The endpoint's deliveries, newest first, each with its attempts (as of one moment: an
    attempt's outcome is written to both at once and read from both at once)."""
    async with snapshot(pool) as conn:
        records = await conn.fetch(
            f"""
            SELECT {_DELIVERY} FROM webhook_deliveries WHERE endpoint_id = $1
            ORDER BY seq DESC LIMIT $2 OFFSET $3
            """,
            endpoint_id,
            limit,
            offset,
        )
        total = await conn.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1", endpoint_id
        )
        return await _with_log(conn, list(records)), int(total)


async def get_delivery(
    pool: Pool, *, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryRow | None:
    async with snapshot(pool) as conn:
        r = await conn.fetchrow(
            f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE endpoint_id = $1 AND id = $2",
            endpoint_id,
            delivery_id,
        )
        if r is None:
            return None
        [row] = await _with_log(conn, [r])
        return row


class AlreadyPending(Exception):
    """A redelivery of a delivery that is still being tried."""


async def redeliver(
    pool: Pool, *, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryRow | None:
    """Send a finished delivery again (same webhook-id), with a new retry window."""
    async with pool.acquire() as conn, conn.transaction():
        state = await conn.fetchval(
            "SELECT state FROM webhook_deliveries WHERE endpoint_id = $1 AND id = $2 FOR UPDATE",
            endpoint_id,
            delivery_id,
        )
        if state is None:
            return None
        if state == "pending":
            raise AlreadyPending
        r = await conn.fetchrow(
            f"""
            UPDATE webhook_deliveries
            SET state = 'pending', next_attempt_at = now(), window_started_at = now(),
                lease_until = NULL, delivered_at = NULL
            WHERE id = $1 RETURNING {_DELIVERY}
            """,
            delivery_id,
        )
        assert r is not None
        [row] = await _with_log(conn, [r])
        return row


# ---- the delivery loop's side -------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A delivery leased to one attempt, with what it takes to send and sign it."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    partner_id: uuid.UUID
    url: str
    secrets: tuple[str, ...]
    event_id: str
    event_type: str
    payload: dict[str, Any]
    created_at: datetime
    window_started_at: datetime
    attempt: int


async def claim(pool: Pool, *, limit: int, lease: timedelta) -> list[Claimed]:
    """Lease up to `limit` due deliveries, at most one per (endpoint, ordering key): the oldest
    pending one, so an onboarding's events reach an endpoint one at a time and in order.

    SKIP LOCKED lets several loops (workers) claim side by side without waiting on each other;
    the lease is what a killed loop leaves behind, and once it lapses the delivery is due again.
    """
    async with pool.acquire() as conn, conn.transaction():
        records = await conn.fetch(
            """
            WITH due AS (
                SELECT d.id FROM webhook_deliveries d
                JOIN webhook_endpoints e ON e.id = d.endpoint_id
                WHERE d.state = 'pending' AND d.next_attempt_at <= now()
                  AND (d.lease_until IS NULL OR d.lease_until < now())
                  AND e.deleted_at IS NULL AND e.disabled_at IS NULL
                  AND NOT EXISTS (
                      SELECT 1 FROM webhook_deliveries p
                      WHERE p.endpoint_id = d.endpoint_id AND p.ordering_key = d.ordering_key
                        AND p.state = 'pending' AND p.seq < d.seq
                  )
                ORDER BY d.next_attempt_at, d.seq
                LIMIT $1
                FOR UPDATE OF d SKIP LOCKED
            )
            UPDATE webhook_deliveries d
            SET lease_until = now() + $2::interval, attempts = d.attempts + 1
            FROM due, webhook_endpoints e
            WHERE d.id = due.id AND e.id = d.endpoint_id
            RETURNING d.id, d.endpoint_id, d.partner_id, e.url, e.secret, e.previous_secret,
                      e.previous_secret_until > now() AS previous_valid, d.event_id,
                      d.event_type, d.payload, d.created_at, d.window_started_at, d.attempts
            """,
            limit,
            lease,
        )
        await conn.executemany(
            "INSERT INTO webhook_attempts (delivery_id, attempt) VALUES ($1, $2)",
            [(r["id"], r["attempts"]) for r in records],
        )
    return [
        Claimed(
            id=r["id"],
            endpoint_id=r["endpoint_id"],
            partner_id=r["partner_id"],
            url=r["url"],
            secrets=(r["secret"], r["previous_secret"]) if r["previous_valid"] else (r["secret"],),
            event_id=r["event_id"],
            event_type=r["event_type"],
            payload=r["payload"],
            created_at=r["created_at"],
            window_started_at=r["window_started_at"],
            attempt=r["attempts"],
        )
        for r in records
    ]


async def _record_attempt(
    conn: Conn,
    delivery_id: uuid.UUID,
    attempt: int,
    status_code: int | None,
    latency_ms: int | None,
    error: str | None,
) -> bool:
    """Write the attempt's outcome; True when it is still the delivery's latest attempt (a lease
    that lapsed mid-call may have let another loop retake it: that one's outcome decides)."""
    await conn.execute(
        """
        UPDATE webhook_attempts SET status_code = $3, latency_ms = $4, error = $5
        WHERE delivery_id = $1 AND attempt = $2
        """,
        delivery_id,
        attempt,
        status_code,
        latency_ms,
        error,
    )
    current = await conn.fetchval(
        "SELECT attempts = $2 AND state = 'pending' FROM webhook_deliveries WHERE id = $1 "
        "FOR UPDATE",
        delivery_id,
        attempt,
    )
    return bool(current)


async def record_success(
    pool: Pool, *, delivery: Claimed, status_code: int, latency_ms: int
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if not await _record_attempt(
            conn, delivery.id, delivery.attempt, status_code, latency_ms, None
        ):
            return
        await conn.execute(
            """
            UPDATE webhook_deliveries
            SET state = 'delivered', delivered_at = now(), lease_until = NULL,
                last_status_code = $2, last_latency_ms = $3, last_error = NULL
            WHERE id = $1
            """,
            delivery.id,
            status_code,
            latency_ms,
        )
        await conn.execute(
            "UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1", delivery.endpoint_id
        )


async def record_failure(
    pool: Pool,
    *,
    delivery: Claimed,
    status_code: int | None,
    latency_ms: int | None,
    error: str,
    retry_at: datetime | None,
    disable_after: timedelta,
) -> bool:
    """Record a failed attempt: retried at `retry_at`, or given up when None. Disables the
    endpoint once it has failed without a success for `disable_after`; True if this did."""
    async with pool.acquire() as conn, conn.transaction():
        if not await _record_attempt(
            conn, delivery.id, delivery.attempt, status_code, latency_ms, error
        ):
            return False
        await conn.execute(
            """
            UPDATE webhook_deliveries
            SET state = CASE WHEN $5::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
                next_attempt_at = coalesce($5, next_attempt_at), lease_until = NULL,
                last_status_code = $2, last_latency_ms = $3, last_error = $4
            WHERE id = $1
            """,
            delivery.id,
            status_code,
            latency_ms,
            error,
            retry_at,
        )
        disabled = await conn.fetchval(
            """
            UPDATE webhook_endpoints
            SET failing_since = coalesce(failing_since, now()),
                disabled_at = CASE WHEN coalesce(failing_since, now()) <= now() - $2::interval
                                   THEN now() END,
                disabled_reason = CASE WHEN coalesce(failing_since, now()) <= now() - $2::interval
                                  THEN 'every delivery failed since ' || to_char(
                                      coalesce(failing_since, now()) AT TIME ZONE 'UTC',
                                      'YYYY-MM-DD"T"HH24:MI:SS"Z"') END
            WHERE id = $1 AND disabled_at IS NULL
            RETURNING disabled_at IS NOT NULL
            """,
            delivery.endpoint_id,
            disable_after,
        )
        return bool(disabled)


@dataclass(frozen=True)
class DisabledEndpoint:
    id: uuid.UUID
    partner_id: uuid.UUID
    url: str
    disabled_reason: str | None
    administrators: list[str]


async def notify_disabled(
    pool: Pool, *, send: Callable[[DisabledEndpoint], Awaitable[None]]
) -> int:
    """For each disabled endpoint whose administrators were not told yet: `await send(row)`,
    then mark it told, under a row lock so two loops never both send. A failed send leaves it
    for the next pass. Returns how many were told."""
    told = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            r = await conn.fetchrow(
                """
                SELECT id, partner_id, url, disabled_reason FROM webhook_endpoints
                WHERE disabled_at IS NOT NULL AND disabled_notified_at IS NULL
                  AND deleted_at IS NULL
                LIMIT 1 FOR UPDATE SKIP LOCKED
                """
            )
            if r is None:
                return told
            admins = await conn.fetch(
                """
                SELECT email FROM partner_users WHERE partner_id = $1 AND role = 'administrator'
                ORDER BY id
                """,
                r["partner_id"],
            )
            await send(
                DisabledEndpoint(
                    id=r["id"],
                    partner_id=r["partner_id"],
                    url=r["url"],
                    disabled_reason=r["disabled_reason"],
                    administrators=[a["email"] for a in admins],
                )
            )
            await conn.execute(
                "UPDATE webhook_endpoints SET disabled_notified_at = now() WHERE id = $1", r["id"]
            )
            told += 1
