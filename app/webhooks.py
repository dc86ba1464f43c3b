"""A firm's signed webhook endpoints (Standard Webhooks) and their delivery log, administrators
only: add one (its URL judged by the outbound policy, its signing secret answered once), list,
remove, rotate the secret, take a disabled one back, read deliveries and redeliver one. The JSON
routes (/v1/webhooks) and the console's Webhooks pages call these."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from app import roles
from app.errors import Conflict, FieldIssue, Invalid, NotFound
from core import outbound, webhooks
from core.settings import Settings
from domain.setup import Role
from store import webhooks as store
from store.pool import Pool


def url_syntax(value: str) -> str:
    """`value` if it is an http(s) URL naming a host, else ValueError saying why. Syntax only:
    which hosts may be called depends on settings and DNS, so `create` and the delivery loop
    apply core/outbound.py on top of this."""
    if any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("must be a URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        _ = parts.port  # reading it validates it: ValueError when out of range
    except ValueError:
        raise ValueError("must be a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL naming a host")
    return value


def _not_found() -> NotFound:
    return NotFound("No such webhook endpoint.", slug="webhook-not-found", title="Unknown webhook")


@dataclass(frozen=True)
class Created:
    endpoint: store.EndpointRow
    # The signing secret, answered this once and never again.
    secret: str


async def create(
    pool: Pool,
    settings: Settings,
    *,
    partner_id: uuid.UUID,
    user_id: uuid.UUID,
    role: Role,
    url: str,
    event_types: Sequence[str],
    endpoint_id: uuid.UUID | None = None,
) -> Created:
    """Add an endpoint whose URL the outbound policy allows (Invalid on `url` otherwise). A
    caller choosing `endpoint_id` (a form's nonce) is refused with Conflict the second time, so
    a double submit adds one endpoint and shows its secret once."""
    roles.require(role, roles.ADMINISTRATORS)
    policy = outbound.OutboundPolicy.from_settings(settings)
    # Checked now for an immediate answer, and again before every delivery (DNS changes).
    try:
        target = policy.check(url)
        # Stored as checked: the delivery loop then calls the very spelling judged here.
        url = target.canonical
        await policy.resolve(target)
    except outbound.OutboundRefused as exc:
        raise Invalid.field("url", f"not allowed: {exc.reason}", code="not_allowed") from None
    except outbound.OutboundUnresolvable:
        pass  # not known to DNS yet is no reason to refuse; the delivery log will tell
    secret = webhooks.new_secret()
    try:
        row = await store.create_endpoint(
            pool,
            partner_id=partner_id,
            url=url,
            event_types=list(event_types),
            secret=secret,
            created_by=user_id,
            endpoint_id=endpoint_id,
        )
    except store.EndpointExists:
        raise Conflict(
            "This endpoint was added already; its secret was shown then.",
            slug="webhook-exists",
            title="Endpoint already added",
        ) from None
    return Created(endpoint=row, secret=secret)


async def list_endpoints(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, limit: int, offset: int
) -> tuple[list[store.EndpointRow], int]:
    """One page of the firm's endpoints (never their secrets) and how many there are."""
    roles.require(role, roles.ADMINISTRATORS)
    return await store.list_endpoints(pool, partner_id=partner_id, limit=limit, offset=offset)


async def read(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, endpoint_id: uuid.UUID
) -> store.EndpointRow:
    """One endpoint of the firm (another firm's: NotFound, like an unknown one)."""
    roles.require(role, roles.ADMINISTRATORS)
    row = await store.get_endpoint(pool, partner_id=partner_id, endpoint_id=endpoint_id)
    if row is None:
        raise _not_found()
    return row


async def delete(pool: Pool, *, partner_id: uuid.UUID, role: Role, endpoint_id: uuid.UUID) -> None:
    """Remove an endpoint: nothing more is sent to it; its pending deliveries are given up."""
    roles.require(role, roles.ADMINISTRATORS)
    if not await store.delete_endpoint(pool, partner_id=partner_id, endpoint_id=endpoint_id):
        raise _not_found()


async def rotate_secret(
    pool: Pool,
    settings: Settings,
    *,
    partner_id: uuid.UUID,
    role: Role,
    endpoint_id: uuid.UUID,
) -> tuple[store.EndpointRow, str]:
    """A new signing secret (answered once); the previous one keeps signing for a grace period."""
    roles.require(role, roles.ADMINISTRATORS)
    secret = webhooks.new_secret()
    row = await store.rotate_secret(
        pool,
        partner_id=partner_id,
        endpoint_id=endpoint_id,
        secret=secret,
        grace=timedelta(hours=settings.webhook_secret_grace_hours),
    )
    if row is None:
        raise _not_found()
    return row, secret


async def enable(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, endpoint_id: uuid.UUID
) -> store.EndpointRow:
    """Take a disabled endpoint back into service: its undelivered events follow, in order."""
    roles.require(role, roles.ADMINISTRATORS)
    row = await store.enable_endpoint(pool, partner_id=partner_id, endpoint_id=endpoint_id)
    if row is None:
        raise _not_found()
    return row


async def list_deliveries(
    pool: Pool,
    *,
    partner_id: uuid.UUID,
    role: Role,
    endpoint_id: uuid.UUID,
    limit: int,
    offset: int,
) -> tuple[list[store.DeliveryRow], int]:
    """The endpoint's deliveries, newest first: attempts, answers, latency, next retry."""
    await read(pool, partner_id=partner_id, role=role, endpoint_id=endpoint_id)
    return await store.list_deliveries(pool, endpoint_id=endpoint_id, limit=limit, offset=offset)


async def redeliver(
    pool: Pool, *, partner_id: uuid.UUID, role: Role, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> store.DeliveryRow:
    """Send a delivered or given-up event again (same `webhook-id`), with fresh retries; a
    delivery still being tried is refused (Conflict), so a double submit sends it once."""
    await read(pool, partner_id=partner_id, role=role, endpoint_id=endpoint_id)
    try:
        row = await store.redeliver(pool, endpoint_id=endpoint_id, delivery_id=delivery_id)
    except store.AlreadyPending:
        raise Conflict(
            "This delivery is still being tried; see next_attempt_at.",
            slug="delivery-pending",
            title="Delivery still pending",
        ) from None
    if row is None:
        raise NotFound(
            "No such delivery for this endpoint.",
            slug="delivery-not-found",
            title="Unknown delivery",
        )
    return row


def check_request(*, url: str, event_types: Sequence[str]) -> list[str]:
    """A form's endpoint checked as POST /v1/webhooks checks its body: the URL's syntax and
    length, at least one known event type (kept once each, in order). Invalid names each field
    at fault; the outbound policy is `create`'s."""
    issues: list[FieldIssue] = []
    if not url:
        issues.append(FieldIssue("url", "is required", "required"))
    elif len(url) > outbound.MAX_URL_CHARS:
        issues.append(FieldIssue("url", f"at most {outbound.MAX_URL_CHARS} characters", "too_long"))
    else:
        try:
            url_syntax(url)
        except ValueError as exc:
            issues.append(FieldIssue("url", str(exc), "url"))
    known = {t.value for t in store.EventType}
    if not event_types:
        issues.append(FieldIssue("event_types", "choose at least one event", "required"))
    elif any(t not in known for t in event_types):
        issues.append(FieldIssue("event_types", "unknown event type", "invalid"))
    if issues:
        names = ", ".join(dict.fromkeys(i.field for i in issues))
        raise Invalid(f"Invalid field(s): {names}", errors=tuple(issues))
    return list(dict.fromkeys(event_types))
