"""A client's later fiscal years: added after onboarding, their month folders created once by a
workflow (FiscalYearWorkflow)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from temporalio.client import Client

from app import roles
from app.clients import client_not_found, ready_client
from app.errors import AppError, Conflict, FieldIssue, Invalid, not_started
from core import workflow_starts
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

ADD_ROLES = roles.CONFIGURERS


@dataclass(frozen=True)
class Added:
    year: FiscalYear
    # The same request again (or a retry after a lost answer): the same year, the same run.
    replayed: bool


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
        data = FiscalYearInput(
            client_id=client_id,
            partner_id=partner_id,
            folder_tree=setup.folder_tree if setup else None,
            fiscal_year=year,
            language=client.language,
        )
        try:
            # A run that succeeded made the folders: nothing more to do then.
            await workflow_starts.start(
                temporal, workflow_starts.fiscal_year(data), task_queue=task_queue
            )
        except workflow_starts.StartFailed as exc:
            raise not_started(
                exc,
                what="fiscal year's folder creation",
                unavailable="The fiscal year is recorded but its folders could not be started "
                "now; send the same request again.",
            ) from exc
    return Added(year=year, replayed=same is not None)
