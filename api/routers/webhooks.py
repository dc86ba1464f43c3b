"""/v1/webhooks: a partner's signed webhook endpoints (Standard Webhooks), administrators only,
with each endpoint's delivery log and a redeliver action."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field, field_validator

from api.deps import AdminDep, PageDep, ServicesDep
from api.pagination import PageOf
from api.problems import problem_responses
from app import webhooks as app_webhooks
from core import outbound
from store import webhooks as store
from store.webhooks import EventType

router = APIRouter(
    prefix="/v1/webhooks", tags=["webhooks"], responses=problem_responses(401, 403, 429)
)

EndpointId = Annotated[uuid.UUID, Path(description="The endpoint's id")]


class WebhookBase(BaseModel):
    url: str = Field(
        max_length=outbound.MAX_URL_CHARS,
        description="Where events are POSTed; https, a public host (outbound URL policy)",
        examples=["https://app.partner.example/hooks/onboarding"],
    )
    event_types: list[EventType] = Field(
        min_length=1,
        max_length=len(EventType),
        description="The events this endpoint receives",
    )

    @field_validator("url")
    @classmethod
    def _url_syntax(cls, value: str) -> str:
        return app_webhooks.url_syntax(value)

    @field_validator("event_types")
    @classmethod
    def _distinct(cls, value: list[EventType]) -> list[EventType]:
        return list(dict.fromkeys(value))


class WebhookCreate(WebhookBase):
    pass


class WebhookPublic(WebhookBase):
    id: uuid.UUID
    created_at: datetime
    previous_secret_valid_until: datetime | None = Field(
        description="During a rotation: until when the previous secret also signs"
    )
    failing_since: datetime | None = Field(
        description="First failure of the current run of failed deliveries"
    )
    disabled_at: datetime | None
    disabled_reason: str | None


class WebhookCreated(WebhookPublic):
    secret: str = Field(
        description="The signing secret (`whsec_...`): shown this once; keep it to verify "
        "`webhook-signature`"
    )


class WebhookSecret(BaseModel):
    id: uuid.UUID
    secret: str = Field(description="The new signing secret: shown this once")
    previous_secret_valid_until: datetime | None = Field(
        description="Until then, messages carry a signature under each secret"
    )


class AttemptPublic(BaseModel):
    attempt: int
    started_at: datetime
    status_code: int | None = Field(description="The endpoint's answer; null if none came")
    latency_ms: int | None
    error: str | None = Field(description="Why the attempt failed, in our words")


class DeliveryPublic(BaseModel):
    id: uuid.UUID
    event_id: str = Field(description="The `webhook-id` header, the same on every attempt")
    event_type: str
    ordering_key: str = Field(description="The onboarding (or import) the event belongs to")
    payload: dict[str, Any]
    created_at: datetime
    state: str = Field(description="pending, delivered or failed (given up)")
    attempts: int
    next_attempt_at: datetime | None = Field(description="When a pending delivery is next tried")
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    delivered_at: datetime | None
    log: list[AttemptPublic]


def _public(row: store.EndpointRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "event_types": row.event_types,
        "created_at": row.created_at,
        "previous_secret_valid_until": row.previous_secret_until,
        "failing_since": row.failing_since,
        "disabled_at": row.disabled_at,
        "disabled_reason": row.disabled_reason,
    }


def _delivery(row: store.DeliveryRow) -> DeliveryPublic:
    return DeliveryPublic(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        ordering_key=row.ordering_key,
        payload=row.payload,
        created_at=row.created_at,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.state == "pending" else None,
        last_status_code=row.last_status_code,
        last_latency_ms=row.last_latency_ms,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        log=[
            AttemptPublic(
                attempt=a.attempt,
                started_at=a.started_at,
                status_code=a.status_code,
                latency_ms=a.latency_ms,
                error=a.error,
            )
            for a in row.log
        ],
    )


@router.post(
    "",
    response_model=WebhookCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(422, 503),
)
async def create_webhook(
    body: WebhookCreate, services: ServicesDep, caller: AdminDep
) -> WebhookCreated:
    """Add an endpoint; the answer holds its signing secret, shown this once."""
    created = await app_webhooks.create(
        services.pool,
        services.settings,
        partner_id=caller.partner.id,
        user_id=caller.user.id,
        role=caller.user.role,
        url=body.url,
        event_types=[t.value for t in body.event_types],
    )
    return WebhookCreated(**_public(created.endpoint), secret=created.secret)


@router.get("", response_model=PageOf[WebhookPublic])
async def read_webhooks(
    services: ServicesDep, caller: AdminDep, page: PageDep
) -> PageOf[WebhookPublic]:
    """The partner's webhook endpoints (never their secrets)."""
    rows, total = await app_webhooks.list_endpoints(
        services.pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        limit=page.limit,
        offset=page.offset,
    )
    return PageOf[WebhookPublic](
        items=[WebhookPublic(**_public(r)) for r in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{endpoint_id}", response_model=WebhookPublic, responses=problem_responses(404))
async def read_webhook(
    endpoint_id: EndpointId, services: ServicesDep, caller: AdminDep
) -> WebhookPublic:
    """One endpoint."""
    row = await app_webhooks.read(
        services.pool, partner_id=caller.partner.id, role=caller.user.role, endpoint_id=endpoint_id
    )
    return WebhookPublic(**_public(row))


@router.delete(
    "/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404)
)
async def delete_webhook(endpoint_id: EndpointId, services: ServicesDep, caller: AdminDep) -> None:
    """Remove an endpoint: nothing more is sent to it; its pending deliveries are given up."""
    await app_webhooks.delete(
        services.pool, partner_id=caller.partner.id, role=caller.user.role, endpoint_id=endpoint_id
    )


@router.post(
    "/{endpoint_id}/rotate-secret", response_model=WebhookSecret, responses=problem_responses(404)
)
async def create_webhook_secret(
    endpoint_id: EndpointId, services: ServicesDep, caller: AdminDep
) -> WebhookSecret:
    """A new signing secret; the previous one keeps signing too for a grace period."""
    row, secret = await app_webhooks.rotate_secret(
        services.pool,
        services.settings,
        partner_id=caller.partner.id,
        role=caller.user.role,
        endpoint_id=endpoint_id,
    )
    return WebhookSecret(
        id=row.id, secret=secret, previous_secret_valid_until=row.previous_secret_until
    )


@router.post(
    "/{endpoint_id}/enable", response_model=WebhookPublic, responses=problem_responses(404)
)
async def update_webhook_enabled(
    endpoint_id: EndpointId, services: ServicesDep, caller: AdminDep
) -> WebhookPublic:
    """Take a disabled endpoint back into service: its undelivered events follow, in order."""
    row = await app_webhooks.enable(
        services.pool, partner_id=caller.partner.id, role=caller.user.role, endpoint_id=endpoint_id
    )
    return WebhookPublic(**_public(row))


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=PageOf[DeliveryPublic],
    responses=problem_responses(404),
)
async def read_webhook_deliveries(
    endpoint_id: EndpointId, services: ServicesDep, caller: AdminDep, page: PageDep
) -> PageOf[DeliveryPublic]:
    """The endpoint's deliveries, newest first: attempts, answers, latency, next retry."""
    rows, total = await app_webhooks.list_deliveries(
        services.pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        endpoint_id=endpoint_id,
        limit=page.limit,
        offset=page.offset,
    )
    return PageOf[DeliveryPublic](
        items=[_delivery(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(404, 409),
)
async def create_webhook_redelivery(
    endpoint_id: EndpointId,
    delivery_id: Annotated[uuid.UUID, Path(description="The delivery's id")],
    services: ServicesDep,
    caller: AdminDep,
) -> DeliveryPublic:
    """Send a delivered or given-up event again (same `webhook-id`), with fresh retries."""
    row = await app_webhooks.redeliver(
        services.pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        endpoint_id=endpoint_id,
        delivery_id=delivery_id,
    )
    return _delivery(row)
