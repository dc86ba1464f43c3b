"""/v1/clients/{id}/integrations: a client's apps after onboarding. Adding, reconfiguring and
removing one answer 202 at once with the change and its status URL; a workflow
(IntegrationChangeWorkflow) connects or disconnects the app once, and the change's history says
who asked what and when. Secret settings are never answered: they show as the mask."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Response, status
from pydantic import BaseModel, Field

from api.deps import AnyRoleDep, ConfigurerDep, PageDep, PoolDep, ServicesDep
from api.pagination import PageOf
from api.problems import problem_responses
from app import integrations as app_integrations
from domain.integrations import IntegrationAdd, IntegrationReconfigure
from domain.text import Text
from store import integration_changes as changes

router = APIRouter(prefix="/v1/clients", tags=["client integrations"])

IntegrationCode = Annotated[Text, Path(max_length=63, description="The app's catalogue code")]
ChangeKey = Annotated[
    Text | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Sending the same change again with the same key answers the same change "
        "(and runs it once).",
    ),
]
# A change is accepted (202); refused by role (403), for an unknown client or app (404), while
# the client sets up or another change of the app runs (409), for its settings (422), or with
# Temporal out of reach (503).
CHANGE_PROBLEMS = problem_responses(403, 404, 409, 422, 503)


class ClientIntegrationPublic(BaseModel):
    code: str
    name: str = Field(description="The app's name in the catalogue (its code once removed from it)")
    kind: Literal["redirection", "automation"]
    state: Literal["pending", "connecting", "connected", "failed", "disconnecting", "removed"]
    settings: dict[str, object] = Field(description="Secret settings show as the mask")
    attempts: int = Field(description="Attempts of the latest connection or disconnection")
    last_error: str | None = Field(description="Why the latest attempt failed, in our words")
    external_ref: str | None = Field(description="The app's id of the connection")
    connected_at: datetime | None
    updated_at: datetime
    change_id: uuid.UUID | None = Field(
        description="The latest change of the app; null: as the onboarding connected it"
    )


class IntegrationChangePublic(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    code: str
    action: Literal["add", "reconfigure", "remove"]
    settings: dict[str, object] = Field(description="As asked, secret settings masked")
    state: Literal["running", "done", "failed"]
    error: str | None = Field(description="Why it failed, in our words")
    requested_by: uuid.UUID | None = Field(description="The firm's user who asked")
    requested_by_name: str | None
    requested_at: datetime
    finished_at: datetime | None
    status_url: str


def _status_url(client_id: uuid.UUID, change_id: uuid.UUID) -> str:
    return f"/v1/clients/{client_id}/integrations/changes/{change_id}"


def _change(row: changes.ChangeRow) -> IntegrationChangePublic:
    return IntegrationChangePublic.model_validate(
        {
            "id": row.id,
            "client_id": row.client_id,
            "code": row.code,
            "action": row.action,
            "settings": row.settings,
            "state": row.state,
            "error": row.error,
            "requested_by": row.requested_by,
            "requested_by_name": row.requested_by_name,
            "requested_at": row.requested_at,
            "finished_at": row.finished_at,
            "status_url": _status_url(row.client_id, row.id),
        }
    )


def _accepted(changed: app_integrations.Changed, response: Response) -> IntegrationChangePublic:
    if changed.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    public = _change(changed.change)
    response.headers["Location"] = public.status_url
    return public


@router.get(
    "/{client_id}/integrations",
    response_model=list[ClientIntegrationPublic],
    responses=problem_responses(404),
)
async def read_client_integrations(
    client_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep
) -> list[ClientIntegrationPublic]:
    """The client's apps, each with where it stands (removed ones say so)."""
    rows = await app_integrations.list_integrations(
        pool, partner_id=caller.partner.id, client_id=client_id
    )
    return [ClientIntegrationPublic.model_validate(r, from_attributes=True) for r in rows]


@router.get(
    "/{client_id}/integrations/history",
    response_model=PageOf[IntegrationChangePublic],
    responses=problem_responses(404),
)
async def read_client_integration_history(
    client_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep, page: PageDep
) -> PageOf[IntegrationChangePublic]:
    """Every change of the client's apps after onboarding, newest first: who, when, what."""
    rows, total = await app_integrations.history(
        pool,
        partner_id=caller.partner.id,
        client_id=client_id,
        limit=page.limit,
        offset=page.offset,
    )
    return PageOf[IntegrationChangePublic](
        items=[_change(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{client_id}/integrations/changes/{change_id}",
    response_model=IntegrationChangePublic,
    responses=problem_responses(404),
)
async def read_client_integration_change(
    client_id: uuid.UUID, change_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep
) -> IntegrationChangePublic:
    """One change of the client's apps (the status URL of an add, reconfigure or remove)."""
    row = await app_integrations.get_change(
        pool, partner_id=caller.partner.id, client_id=client_id, change_id=change_id
    )
    return _change(row)


@router.post(
    "/{client_id}/integrations",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IntegrationChangePublic,
    responses=CHANGE_PROBLEMS,
)
async def create_client_integration(
    client_id: uuid.UUID,
    body: IntegrationAdd,
    caller: ConfigurerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: ChangeKey = None,
) -> IntegrationChangePublic:
    """Connect the client to an app of the firm's catalogue; the connection runs in the
    background (follow the status URL)."""
    changed = await app_integrations.add(
        services.pool,
        services.temporal,
        partner_id=caller.partner.id,
        client_id=client_id,
        role=caller.user.role,
        requested_by=caller.user.id,
        body=body,
        idempotency_key=idempotency_key,
        task_queue=services.settings.task_queue,
    )
    return _accepted(changed, response)


async def _reconfigure(
    client_id: uuid.UUID,
    code: str,
    body: IntegrationReconfigure,
    caller: ConfigurerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: str | None,
    *,
    merge: bool,
) -> IntegrationChangePublic:
    changed = await app_integrations.reconfigure(
        services.pool,
        services.temporal,
        partner_id=caller.partner.id,
        client_id=client_id,
        code=code,
        role=caller.user.role,
        requested_by=caller.user.id,
        body=body,
        merge=merge,
        idempotency_key=idempotency_key,
        task_queue=services.settings.task_queue,
    )
    return _accepted(changed, response)


@router.patch(
    "/{client_id}/integrations/{code}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IntegrationChangePublic,
    responses=CHANGE_PROBLEMS,
)
async def update_client_integration(
    client_id: uuid.UUID,
    code: IntegrationCode,
    body: IntegrationReconfigure,
    caller: ConfigurerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: ChangeKey = None,
) -> IntegrationChangePublic:
    """Change some of the app's settings (null takes one away; a secret left out or masked is
    kept) and connect it again with them, in the background."""
    return await _reconfigure(
        client_id, code, body, caller, services, response, idempotency_key, merge=True
    )


@router.put(
    "/{client_id}/integrations/{code}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IntegrationChangePublic,
    responses=CHANGE_PROBLEMS,
)
async def replace_client_integration(
    client_id: uuid.UUID,
    code: IntegrationCode,
    body: IntegrationReconfigure,
    caller: ConfigurerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: ChangeKey = None,
) -> IntegrationChangePublic:
    """Replace the app's settings (a secret left out or masked is kept) and connect it again
    with them, in the background."""
    return await _reconfigure(
        client_id, code, body, caller, services, response, idempotency_key, merge=False
    )


@router.delete(
    "/{client_id}/integrations/{code}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IntegrationChangePublic,
    responses=CHANGE_PROBLEMS,
)
async def delete_client_integration(
    client_id: uuid.UUID,
    code: IntegrationCode,
    caller: ConfigurerDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: ChangeKey = None,
) -> IntegrationChangePublic:
    """Disconnect the client from the app, in the background; asked again, the same removal."""
    changed = await app_integrations.remove(
        services.pool,
        services.temporal,
        partner_id=caller.partner.id,
        client_id=client_id,
        code=code,
        role=caller.user.role,
        requested_by=caller.user.id,
        idempotency_key=idempotency_key,
        task_queue=services.settings.task_queue,
    )
    return _accepted(changed, response)
