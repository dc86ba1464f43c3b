"""/v1/clients/{id}/checklist changed after onboarding: assign or replace a client's checklist
from the firm's catalog, or withdraw it (reading it is in clients.py). An invited director is
told by e-mail, once per assignment (app/checklists.py)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from api.deps import ConfigurerDep, PoolDep, ServicesDep
from api.problems import problem_responses
from app import checklists as app_checklists
from domain.checklists import ChecklistProgress

router = APIRouter(prefix="/v1/clients", tags=["clients"])


class ClientChecklistIn(BaseModel):
    checklist_id: uuid.UUID = Field(
        description="A checklist of the firm's catalog (GET /v1/checklists); the client gets "
        "a copy of it as it stands"
    )


@router.put(
    "/{client_id}/checklist",
    response_model=ChecklistProgress,
    responses=problem_responses(403, 404, 409, 422, 503),
)
async def update_client_checklist(
    client_id: uuid.UUID, body: ClientChecklistIn, caller: ConfigurerDep, services: ServicesDep
) -> ChecklistProgress:
    """Assign a checklist to the client, or replace the one it has (its answers go with it);
    an invited director is told by e-mail once. The same request again changes nothing."""
    return await app_checklists.assign_to_client(
        services.pool,
        services.temporal,
        partner_id=caller.partner.id,
        client_id=client_id,
        role=caller.user.role,
        checklist_id=body.checklist_id,
        task_queue=services.settings.task_queue,
    )


@router.delete(
    "/{client_id}/checklist",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404),
)
async def delete_client_checklist(
    client_id: uuid.UUID, caller: ConfigurerDep, pool: PoolDep
) -> None:
    """Withdraw the client's checklist: the director's page no longer shows it, and the answers
    given are deleted with it."""
    await app_checklists.withdraw_from_client(
        pool, partner_id=caller.partner.id, client_id=client_id, role=caller.user.role
    )
