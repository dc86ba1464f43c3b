"""/v1/imports: onboard a firm's whole client list from a CSV or Excel file.

Each route turns HTTP into a call of app/imports.py (which the console's Imports page calls too)
and its answer into JSON. The file readers (worker processes, app.imports.Readers) are one of
the process's services (api/deps.py), made on first use and closed with the app.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Header, Request, Response, UploadFile, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from api.deps import AnyRoleDep, PoolDep, ServicesDep, TemporalDep
from api.problems import problem_responses
from app import imports as app_imports
from domain.imports import ImportLimitExceeded, RowError
from domain.imports_progress import ImportProgress
from domain.setup import InvitationMode


class ImportAccepted(BaseModel):
    id: uuid.UUID | None = None
    dry_run: bool
    total: int
    valid: int
    errors: list[RowError]
    status_url: str | None = None


class ImportStatus(BaseModel):
    id: uuid.UUID
    filename: str
    total_rows: int
    valid_rows: int
    progress: ImportProgress | None = Field(
        description="The workflow's own count; null before it starts, past its retention, or "
        "when it cannot answer (`source` is then `database`)"
    )
    onboardings_by_status: dict[str, int]
    source: Literal["workflow", "database"] = Field(
        description="`database` when the import's workflow did not answer (no worker polled in "
        "time, or its task fails): the rows' counts above are all there is"
    )
    workflow_problem: str | None = Field(
        default=None, description="Why the workflow did not answer, when `source` is `database`"
    )


router = APIRouter(prefix="/v1/imports", tags=["imports"])


@router.post(
    "",
    response_model=ImportAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"description": "dry run: the per-row report only"},
        **problem_responses(409, 503),
    },
)
async def create_import(
    request: Request,
    response: Response,
    services: ServicesDep,
    caller: AnyRoleDep,
    file: Annotated[UploadFile, File(description="CSV (UTF-8 or Windows-1252, , or ;) or .xlsx")],
    template_id: Annotated[uuid.UUID | None, Form()] = None,
    invitation_mode: Annotated[InvitationMode | None, Form()] = None,
    mapping: Annotated[
        str | None, Form(description='JSON {"field": "header"} for columns named otherwise')
    ] = None,
    dry_run: Annotated[bool, Form(description="Validate and report only")] = False,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> ImportAccepted:
    """Validate every row, report each bad one (row, field, message), and onboard the rest."""
    limits = services.settings.import_limits()
    # The cheap check first, before any byte is read.
    if file.size is not None and file.size > limits.max_bytes:
        raise app_imports.over_limit(
            ImportLimitExceeded(
                f"the file is over {limits.max_bytes:,} bytes, the most one import takes",
                limit="max_bytes",
                value=limits.max_bytes,
            )
        )
    upload = app_imports.ImportFile(
        # Past the limit by one byte, so that reading it sees the file is over it.
        data=await file.read(limits.max_bytes + 1),
        filename=file.filename or "upload",
        template_id=template_id,
        invitation_mode=invitation_mode,
        mapping=mapping,
    )
    if dry_run:
        read = await app_imports.dry_run(
            services.pool, services.import_readers(), partner_id=caller.partner.id, file=upload
        )
        response.status_code = status.HTTP_200_OK
        return ImportAccepted(dry_run=True, total=read.total, valid=read.valid, errors=read.errors)
    kept = await app_imports.start(
        services.pool,
        services.temporal,
        services.import_readers(),
        services.settings,
        partner_id=caller.partner.id,
        user_id=caller.user.id,
        file=upload,
        idempotency_key=idempotency_key,
    )
    if not kept.created:
        response.headers["Idempotent-Replayed"] = "true"
    return ImportAccepted(
        id=kept.row.id,
        dry_run=False,
        total=kept.read.total,
        valid=kept.read.valid,
        errors=kept.read.errors,
        status_url=f"/v1/imports/{kept.row.id}",
    )


@router.get("/{import_id}", response_model=ImportStatus, responses=problem_responses(404, 503))
async def read_import(
    import_id: uuid.UUID, pool: PoolDep, temporal: TemporalDep, caller: AnyRoleDep
) -> ImportStatus:
    """Progress: rows started, ready, waiting for input, failed; onboardings by status."""
    state = await app_imports.read(
        pool, temporal, partner_id=caller.partner.id, import_id=import_id
    )
    return ImportStatus(
        id=state.row.id,
        filename=state.row.filename,
        total_rows=state.row.total_rows,
        valid_rows=state.row.valid_rows,
        progress=state.progress,
        onboardings_by_status=state.onboardings_by_status,
        source="database" if state.workflow_problem else "workflow",
        workflow_problem=state.workflow_problem,
    )


@router.get(
    "/{import_id}/report.csv", response_class=PlainTextResponse, responses=problem_responses(404)
)
async def read_import_report(import_id: uuid.UUID, pool: PoolDep, caller: AnyRoleDep) -> str:
    """Every row's outcome: its errors, why it was skipped, or its onboarding and status."""
    outcomes = await app_imports.report(pool, partner_id=caller.partner.id, import_id=import_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(app_imports.REPORT_HEADER)
    writer.writerows(outcomes)
    return buffer.getvalue()


@router.post(
    "/{import_id}/cancel", response_model=ImportStatus, responses=problem_responses(404, 409, 503)
)
async def create_import_cancel(
    import_id: uuid.UUID, pool: PoolDep, temporal: TemporalDep, caller: AnyRoleDep
) -> ImportStatus:
    """Start no more rows; onboardings already started go on."""
    await app_imports.cancel(pool, temporal, partner_id=caller.partner.id, import_id=import_id)
    return await read_import(import_id, pool, temporal, caller)
