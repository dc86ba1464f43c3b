"""A client's later fiscal years: added after onboarding, their month folders created once by a
workflow (FiscalYearWorkflow)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from app import roles
from app.clients import client_not_found, ready_client
from app.errors import AppError, Conflict, FieldIssue, Invalid, Unavailable
from domain import search_attributes as sa
from domain.fiscal_calendar import FiscalYear
from domain.fiscal_years import (
    FiscalYearCreate,
    FiscalYearInput,
    FiscalYearRefused,
    check_new_year,
    workflow_id_for,
)
from domain.setup import EffectiveSetup, Role
from store import clients, folders
from store.pool import Pool
from workflows.fiscal_years import FiscalYearWorkflow

ADD_ROLES = roles.CONFIGURERS


@dataclass(frozen=True)
class Added:
    year: FiscalYear
    # The same request again (or a retry after a lost answer): the same year, the same run.
    replayed: bool


async def start_fiscal_year_workflow(
    temporal: Client, *, data: FiscalYearInput, task_queue: str
) -> None:
    """Start the year's workflow unless it runs or has succeeded: the id is the client's and the
    year's, a running one is used as it is, and only a failed one may run again."""
    try:
        await temporal.start_workflow(
            FiscalYearWorkflow.run,
            data,
            id=workflow_id_for(data.client_id, data.fiscal_year.start),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.PARTNER_ID, str(data.partner_id))]
            ),
        )
    except WorkflowAlreadyStartedError:
        pass  # it completed: the folders are there


def _refused(
    kind: type[AppError], slug: str, title: str, field: str, message: str, code: str
) -> AppError:
    return kind(
        f"{field}: {message}",
        slug=slug,
        title=title,
        errors=(FieldIssue(field, message, code),),
    )


async def list_years(
    pool: Pool, *, partner_id: uuid.UUID, client_id: uuid.UUID
) -> list[folders.FiscalYearStateRow]:
    """The client's fiscal years, oldest first, with where their folders stand (any role)."""
    if await clients.get_for_partner(pool, partner_id=partner_id, client_id=client_id) is None:
        raise client_not_found(client_id)
    return await folders.list_fiscal_year_states(pool, client_id=client_id)


async def add(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    client_id: uuid.UUID,
    role: Role,
    requested_by: uuid.UUID,
    body: FiscalYearCreate,
    today: date,
    task_queue: str,
) -> Added:
    """Add the client's next fiscal year and start creating its month folders in the
    background; the same year again is the same year and the same run."""
    roles.require(role, ADD_ROLES)
    client = await ready_client(pool, partner_id=partner_id, client_id=client_id)
    existing = await folders.list_fiscal_year_states(pool, client_id=client_id)
    same = next((y for y in existing if y.starts_on == body.start), None)
    if same is None:
        try:
            year = check_new_year(
                body,
                existing=[
                    FiscalYear.model_construct(start=y.starts_on, end=y.ends_on) for y in existing
                ],
                today=today,
            )
        except FiscalYearRefused as exc:
            raise _refused(
                Invalid,
                "invalid-fiscal-year",
                "Invalid fiscal year",
                exc.field,
                exc.message,
                "fiscal_year",
            ) from exc
        try:
            added = await folders.add_fiscal_year(
                pool,
                client_id=client_id,
                starts_on=year.start,
                ends_on=year.end,
                workflow_id=workflow_id_for(client_id, year.start),
                requested_by=requested_by,
            )
        except folders.FiscalYearOverlap as exc:
            # Another request added an overlapping year since the check above.
            raise _refused(
                Conflict,
                "fiscal-year-overlap",
                "Fiscal years overlap",
                "start",
                "overlaps another",
                "overlap",
            ) from exc
        if not added:
            # The same start, recorded by a concurrent request since: judged as a repeat below.
            same = next(
                y
                for y in await folders.list_fiscal_year_states(pool, client_id=client_id)
                if y.starts_on == year.start
            )
    if same is not None:
        asked_end = body.end or FiscalYear.from_start(body.start).end
        if asked_end != same.ends_on:
            raise _refused(
                Conflict,
                "fiscal-year-exists",
                "Fiscal year exists",
                "end",
                f"the client's fiscal year starting {same.starts_on.isoformat()} ends on "
                f"{same.ends_on.isoformat()}",
                "exists",
            )
        year = FiscalYear.model_construct(start=same.starts_on, end=same.ends_on)
    if same is None or same.workflow_id is not None:
        # Started even when the year existed: an earlier request may have recorded it and then
        # failed before reaching Temporal, or its run failed. The fixed id makes this safe.
        setup = EffectiveSetup.model_validate(client.setup) if client.setup else None
        try:
            await start_fiscal_year_workflow(
                temporal,
                data=FiscalYearInput(
                    client_id=client_id,
                    partner_id=partner_id,
                    folder_tree=setup.folder_tree if setup else None,
                    fiscal_year=year,
                    language=client.language,
                ),
                task_queue=task_queue,
            )
        except RPCError as exc:
            raise Unavailable(
                "The fiscal year is recorded but its folders could not be started now; send the "
                "same request again.",
            ) from exc
    return Added(year=year, replayed=same is not None)
