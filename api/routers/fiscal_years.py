"""/v1/clients/{id}/fiscal-years: a client's fiscal years, and the next ones added later, whose
month folders a workflow (FiscalYearWorkflow) creates once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, ValidationError

from api.client_access import client_not_found
from api.deps import AnyRoleDep, ConfigurerDep, PoolDep, ServicesDep
from api.problems import ProblemError, problem_responses
from app import fiscal_years as app_fiscal_years
from domain.exact import ExactDate
from domain.fiscal_calendar import FiscalYear, months
from domain.fiscal_years import (
    FiscalYearCreate,
    FoldersState,
)
from domain.folders import FolderTreeTemplate, plan_folders
from domain.setup import EffectiveSetup
from store import catalogs, clients, folders
from store.pool import Conn, Pool, snapshot

router = APIRouter(prefix="/v1/clients", tags=["fiscal years"])


class FiscalYearFolders(BaseModel):
    state: FoldersState = Field(
        description="creating, done or failed; the onboarding's year follows the onboarding"
    )
    planned: int | None = Field(
        description="Folders of this year's plan (the client's tree: its folders and this "
        "year's month folders); null when the tree is no longer in the catalog"
    )
    created: int = Field(description="How many of them exist")
    failure: str | None = Field(description="Why it failed: an error type")


class FiscalYearPublic(BaseModel):
    start: date
    end: date
    months: int = Field(description="Calendar months with a day in the year: a folder each")
    source: Literal["onboarding", "added"]
    folders: FiscalYearFolders
    created_at: datetime
    status_url: str


def _status_url(client_id: uuid.UUID, start: date) -> str:
    return f"/v1/clients/{client_id}/fiscal-years/{start.isoformat()}"


async def _tree(
    pool: Pool | Conn, client: clients.ClientRow
) -> tuple[bool, FolderTreeTemplate | None]:
    """(known, tree): the client's folder tree; known is False when its code has no valid entry
    in the catalog any more, so nothing can be planned."""
    code = EffectiveSetup.model_validate(client.setup).folder_tree if client.setup else None
    if code is None:
        return True, None
    body = await catalogs.get(pool, "folder_trees", partner_id=client.partner_id, code=code)
    if body is None:
        return False, None
    try:
        # The catalog stores the template with its code beside it, as the folder activity reads it.
        tree = FolderTreeTemplate.model_validate({k: v for k, v in body.items() if k != "code"})
    except ValidationError:
        return False, None
    return True, tree


def _onboarding_state(client: clients.ClientListRow) -> FoldersState:
    # The onboarding makes its year's folders before setup completes.
    if client.status == "ready":
        return FoldersState.done
    return FoldersState.failed if client.onboarding_status == "FAILED" else FoldersState.creating


async def _public(
    pool: Pool, client_id: uuid.UUID, partner_id: uuid.UUID
) -> list[FiscalYearPublic]:
    # The years and their folders as of one moment, however many statements that takes.
    async with snapshot(pool) as conn:
        return await _years(conn, client_id, partner_id)


async def _years(conn: Conn, client_id: uuid.UUID, partner_id: uuid.UUID) -> list[FiscalYearPublic]:
    listed = await clients.get_listed(conn, partner_id=partner_id, client_id=client_id)
    client = await clients.get_for_partner(conn, partner_id=partner_id, client_id=client_id)
    if listed is None or client is None:
        raise client_not_found(client_id)
    known, tree = await _tree(conn, client)
    years: list[FiscalYearPublic] = []
    for row in await folders.list_fiscal_year_states(conn, client_id=client_id):
        year = FiscalYear.model_construct(start=row.starts_on, end=row.ends_on)
        paths = [f.path for f in plan_folders(tree, year, client.language)] if tree else []
        state = FoldersState(row.folders_state) if row.folders_state else _onboarding_state(listed)
        years.append(
            FiscalYearPublic(
                start=row.starts_on,
                end=row.ends_on,
                months=len(months(year)),
                source="added" if row.workflow_id else "onboarding",
                folders=FiscalYearFolders(
                    state=state,
                    planned=len(paths) if known else None,
                    created=await folders.count_existing_folders(
                        conn, client_id=client_id, paths=paths
                    ),
                    failure=row.folders_failure,
                ),
                created_at=row.created_at,
                status_url=_status_url(client_id, row.starts_on),
            )
        )
    return years


@router.post(
    "/{client_id}/fiscal-years",
    status_code=202,
    response_model=FiscalYearPublic,
    responses=problem_responses(403, 404, 409, 422, 503),
)
async def create_fiscal_year(
    client_id: uuid.UUID,
    body: FiscalYearCreate,
    caller: ConfigurerDep,
    services: ServicesDep,
    response: Response,
) -> FiscalYearPublic:
    """Add the client's next fiscal year; its month folders are created in the background."""
    added = await app_fiscal_years.add(
        services.pool,
        services.temporal,
        partner_id=caller.partner.id,
        client_id=client_id,
        role=caller.user.role,
        requested_by=caller.user.id,
        body=body,
        today=datetime.now(UTC).date(),
        task_queue=services.settings.task_queue,
    )
    year = added.year
    if added.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = _status_url(client_id, year.start)
    [public] = [
        y
        for y in await _public(services.pool, client_id, caller.partner.id)
        if y.start == year.start
    ]
    return public


@router.get(
    "/{client_id}/fiscal-years",
    response_model=list[FiscalYearPublic],
    responses=problem_responses(404),
)
async def read_fiscal_years(
    client_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep
) -> list[FiscalYearPublic]:
    """The client's fiscal years, oldest first, each with where its folders stand."""
    return await _public(pool, client_id, caller.partner.id)


@router.get(
    "/{client_id}/fiscal-years/{start}",
    response_model=FiscalYearPublic,
    responses=problem_responses(404),
)
async def read_fiscal_year(
    client_id: uuid.UUID, start: ExactDate, caller: AnyRoleDep, pool: PoolDep
) -> FiscalYearPublic:
    """One fiscal year of the client (the status URL of an added year)."""
    for year in await _public(pool, client_id, caller.partner.id):
        if year.start == start:
            return year
    raise ProblemError(
        404, "not-found", "Not found", f"No fiscal year starting {start.isoformat()}"
    )
