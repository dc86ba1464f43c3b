"""/v1/clients: what was applied to a client when it was created; erasing its personal data."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.deps import AdminDep, AnyRoleDep, PoolDep, TemporalDep
from api.problems import ProblemError, problem_responses
from domain.onboarding import workflow_id_for
from domain.setup import EffectiveSetup
from store import clients, erasure

router = APIRouter(prefix="/v1/clients", tags=["clients"])


class ClientSetup(BaseModel):
    client_id: uuid.UUID
    template_id: uuid.UUID | None
    template_version: int | None
    setup: EffectiveSetup | None


@router.get("/{client_id}/setup", response_model=ClientSetup, responses=problem_responses(404))
async def read_client_setup(client_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep) -> ClientSetup:
    """The setup snapshot the client was created with; later template edits do not change it."""
    row = await clients.get_for_partner(pool, partner_id=caller.partner.id, client_id=client_id)
    if row is None:
        raise ProblemError(404, "not-found", "Not found", f"No client {client_id}")
    snapshot: dict[str, Any] | None = row.setup
    return ClientSetup(
        client_id=row.id,
        template_id=row.template_id,
        template_version=row.template_version,
        setup=EffectiveSetup.model_validate(snapshot) if snapshot else None,
    )


class ErasurePublic(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    requested_by: uuid.UUID = Field(description="The administrator who asked for it")
    erased_at: datetime
    onboarding: Literal["cancelled", "not_running"] = Field(
        description="What became of the client's onboarding: its workflow was cancelled, or it "
        "had already finished"
    )
    tables: dict[str, int] = Field(description="Rows scrubbed per table")


def _erasure_public(row: erasure.ErasureRow) -> ErasurePublic:
    return ErasurePublic(
        id=row.id,
        client_id=row.client_id,
        requested_by=row.requested_by,
        erased_at=row.erased_at,
        onboarding="cancelled" if row.onboarding == "cancelled" else "not_running",
        tables=row.tables,
    )


async def _stop_onboarding(temporal: TemporalDep, onboarding_id: uuid.UUID) -> str:
    """Cancel the onboarding's workflow if it still runs: 'cancelled' or 'not_running'.

    Cancelled rather than terminated: Temporal records the request with its reason, and the
    workflow is told at its next wait, so it stops sending (the client is also muted in the same
    transaction as the erasure, for anything already in flight). The reason is stored in clear
    in the history: ids only.
    """
    handle = temporal.get_workflow_handle(workflow_id_for(onboarding_id))
    try:
        described = await handle.describe()
        if described.status != WorkflowExecutionStatus.RUNNING:
            return "not_running"
        await handle.cancel(
            reason=f"right to erasure: the personal data of onboarding {onboarding_id} was erased"
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return "not_running"  # the workflow is past retention, or finished meanwhile
        # Erasing while the onboarding runs on would let it write the data again: not now.
        raise ProblemError(
            503,
            "temporal-unavailable",
            "Try again shortly",
            "The client's onboarding could not be stopped now; nothing was erased.",
        ) from exc
    return "cancelled"


@router.delete(
    "/{client_id}/personal-data",
    response_model=ErasurePublic,
    responses=problem_responses(403, 404, 503),
)
async def delete_client_personal_data(
    client_id: uuid.UUID, caller: AdminDep, pool: PoolDep, temporal: TemporalDep
) -> ErasurePublic:
    """Erase the client's personal data (right to erasure); a second call changes nothing."""
    client = await clients.get_for_partner(pool, partner_id=caller.partner.id, client_id=client_id)
    if client is None:
        raise ProblemError(404, "not-found", "Not found", f"No client {client_id}")
    done = await erasure.get(pool, client_id=client_id)
    stopped = done.onboarding if done else await _stop_onboarding(temporal, client.onboarding_id)
    result = await erasure.erase_client(
        pool,
        partner_id=caller.partner.id,
        client_id=client_id,
        requested_by=caller.user.id,
        onboarding=stopped,
    )
    if result is None:
        raise ProblemError(404, "not-found", "Not found", f"No client {client_id}")
    return _erasure_public(result[0])
