"""/v1/checklists: a partner's catalog of checklists (seed 003).

Everyone of the partner reads them; administrators and client managers change them. A client
gets a copy when its setup completes: editing or deleting an entry here never changes what a
client was already asked.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import Field

from api.deps import AnyRoleDep, ConfigurerDep, PageDep, PoolDep
from api.pagination import PageOf
from api.problems import problem_responses
from app import checklists as app_checklists
from domain.checklists import ChecklistBody
from store.checklists import ChecklistRow

router = APIRouter(prefix="/v1", tags=["checklists"])


class ChecklistCreate(ChecklistBody):
    pass


class ChecklistUpdate(ChecklistBody):
    pass


class ChecklistPublic(ChecklistBody):
    id: uuid.UUID = Field(description="What a template's or a request's `checklist_id` names")
    created_at: datetime
    updated_at: datetime


def _public(row: ChecklistRow) -> ChecklistPublic:
    return ChecklistPublic.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "language": row.language,
            "items": row.items,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


@router.get("/checklists", response_model=PageOf[ChecklistPublic])
async def read_checklists(
    caller: AnyRoleDep, pool: PoolDep, page: PageDep
) -> PageOf[ChecklistPublic]:
    """Checklists: questions and documents a client's director is asked for."""
    rows, total = await app_checklists.list_checklists(
        pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        limit=page.limit,
        offset=page.offset,
    )
    return PageOf[ChecklistPublic](
        items=[_public(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.post(
    "/checklists",
    response_model=ChecklistPublic,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403),
)
async def create_checklist(
    body: ChecklistCreate, caller: ConfigurerDep, pool: PoolDep
) -> ChecklistPublic:
    """Add a checklist; templates and onboarding requests name it by its id."""
    row = await app_checklists.create(
        pool, partner_id=caller.partner.id, role=caller.user.role, body=body
    )
    return _public(row)


@router.get(
    "/checklists/{checklist_id}", response_model=ChecklistPublic, responses=problem_responses(404)
)
async def read_checklist(
    checklist_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep
) -> ChecklistPublic:
    """One checklist."""
    row = await app_checklists.read(
        pool, partner_id=caller.partner.id, role=caller.user.role, checklist_id=checklist_id
    )
    return _public(row)


@router.put(
    "/checklists/{checklist_id}",
    response_model=ChecklistPublic,
    responses=problem_responses(403, 404),
)
async def update_checklist(
    checklist_id: uuid.UUID, body: ChecklistUpdate, caller: ConfigurerDep, pool: PoolDep
) -> ChecklistPublic:
    """Replace a checklist. Clients that already have it keep their copy."""
    row = await app_checklists.replace(
        pool,
        partner_id=caller.partner.id,
        role=caller.user.role,
        checklist_id=checklist_id,
        body=body,
    )
    return _public(row)


@router.delete(
    "/checklists/{checklist_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 404),
)
async def delete_checklist(checklist_id: uuid.UUID, caller: ConfigurerDep, pool: PoolDep) -> None:
    """Remove a checklist from the catalog; clients that have it keep their copy."""
    await app_checklists.delete(
        pool, partner_id=caller.partner.id, role=caller.user.role, checklist_id=checklist_id
    )
