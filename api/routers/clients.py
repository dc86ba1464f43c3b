"""/v1/clients: what was applied to a client when it was created."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import AnyRoleDep, PoolDep
from api.problems import ProblemError
from domain.setup import EffectiveSetup
from store import clients

router = APIRouter(prefix="/v1/clients", tags=["clients"])


class ClientSetup(BaseModel):
    client_id: uuid.UUID
    template_id: uuid.UUID | None
    template_version: int | None
    setup: EffectiveSetup | None


@router.get("/{client_id}/setup", response_model=ClientSetup)
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
