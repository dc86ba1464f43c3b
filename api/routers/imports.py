"""/v1/imports: onboard a firm's whole client list from a CSV or Excel file."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Response, UploadFile, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import AnyRoleDep, PoolDep, ServicesDep, TemporalDep
from api.problems import FieldError, ProblemError
from api.routers.templates import preview_setup
from domain.imports import ImportFileError, RowError, read_table, resolve_mapping, validate_rows
from domain.imports_progress import CANCELLED_BEFORE_START, BulkImportInput, ImportProgress
from domain.onboarding import InvitationIn
from domain.setup import InvitationMode, SetupOverrides
from store import imports
from workflows.bulk_import import BulkImportWorkflow

router = APIRouter(prefix="/v1/imports", tags=["imports"])

MAX_FILE_BYTES = 10 * 1024 * 1024
_IMPORT_NS = uuid.UUID("9c4b1f0e-5d2a-4e8b-8f3c-6a7d1e2b0c95")


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
    progress: ImportProgress | None
    onboardings_by_status: dict[str, int]


def _bad(field: str, exc: Exception) -> ProblemError:
    return ProblemError(
        422,
        "invalid-import",
        "Invalid import",
        str(exc),
        errors=[FieldError(field=field, message=str(exc))],
    )


@router.post(
    "",
    response_model=ImportAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={200: {"description": "dry run: the per-row report only"}},
)
async def create_import(
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
    data = await file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise _bad("file", ValueError(f"the file is over {MAX_FILE_BYTES // 1_000_000} MB"))
    filename = file.filename or "upload"
    try:
        overrides = json.loads(mapping) if mapping else None
        if overrides is not None and not isinstance(overrides, dict):
            raise ValueError("mapping must be a JSON object of field -> header")
    except ValueError as exc:
        raise _bad("mapping", exc) from exc
    try:
        table = read_table(data, filename)
    except ImportFileError as exc:
        raise _bad("file", exc) from exc
    try:
        columns = resolve_mapping(table.headers, overrides)
    except ImportFileError as exc:
        raise _bad("mapping", exc) from exc
    if invitation_mode == InvitationMode.scheduled:
        raise _bad(
            "invitation_mode",
            ValueError("a scheduled invitation needs its own time: use immediate or manual"),
        )
    report = validate_rows(table, columns)
    # The template (and its setup) is checked once for the whole file.
    await preview_setup(services.pool, caller.partner.id, template_id, SetupOverrides())
    if dry_run:
        response.status_code = status.HTTP_200_OK
        return ImportAccepted(
            dry_run=True, total=report.total, valid=len(report.valid), errors=report.errors
        )

    options = json.dumps(
        {"template": str(template_id), "mode": invitation_mode, "mapping": overrides},
        sort_keys=True,
    )
    digest = hashlib.sha256(data + options.encode()).hexdigest()
    key = idempotency_key or digest
    import_id = uuid.uuid5(_IMPORT_NS, f"{caller.partner.id}:{key}")
    errors_by_row: dict[int, list[dict[str, Any]]] = {}
    for error in report.errors:
        errors_by_row.setdefault(error.row, []).append(error.model_dump())
    rows: list[tuple[int, str | None, dict[str, Any] | None, list[dict[str, Any]]]] = [
        (
            valid.row,
            valid.siret,
            valid.request.model_copy(
                update={
                    "template_id": template_id,
                    "invitation": InvitationIn(mode=invitation_mode)
                    if invitation_mode
                    else valid.request.invitation,
                }
            ).model_dump(mode="json"),
            [],
        )
        for valid in report.valid
    ]
    rows += [(row, None, None, errs) for row, errs in errors_by_row.items()]
    stored, created = await imports.create(
        services.pool,
        import_id=import_id,
        partner_id=caller.partner.id,
        idempotency_key=key,
        request_hash=digest,
        workflow_id=f"import-{import_id}",
        filename=filename,
        created_by=caller.user.id,
        rows=sorted(rows),
    )
    if stored.request_hash != digest:
        raise ProblemError(
            409,
            "idempotency-key-reused",
            "Idempotency-Key already used",
            "This Idempotency-Key was used for a different file or options.",
        )
    try:
        await services.temporal.start_workflow(
            BulkImportWorkflow.run,
            BulkImportInput(
                import_id=import_id,
                partner_id=caller.partner.id,
                created_by=caller.user.id,
                window=services.settings.import_window,
            ),
            id=stored.workflow_id,
            task_queue=services.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass  # finished earlier: the same import is answered
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return ImportAccepted(
        id=import_id,
        dry_run=False,
        total=report.total,
        valid=len(report.valid),
        errors=report.errors,
        status_url=f"/v1/imports/{import_id}",
    )


async def _get(pool: PoolDep, caller: AnyRoleDep, import_id: uuid.UUID) -> imports.ImportRow:
    row = await imports.get(pool, partner_id=caller.partner.id, import_id=import_id)
    if row is None:
        raise ProblemError(404, "not-found", "Not found", f"No import {import_id}")
    return row


@router.get("/{import_id}", response_model=ImportStatus)
async def read_import(
    import_id: uuid.UUID, pool: PoolDep, temporal: TemporalDep, caller: AnyRoleDep
) -> ImportStatus:
    """Progress: rows started, ready, waiting for input, failed; onboardings by status."""
    row = await _get(pool, caller, import_id)
    handle = temporal.get_workflow_handle_for(BulkImportWorkflow.run, row.workflow_id)
    try:
        progress: ImportProgress | None = await handle.query(BulkImportWorkflow.progress)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise ProblemError(
                503, "temporal-unavailable", "Temporal unavailable", "Cannot reach the import."
            ) from exc
        progress = None
    return ImportStatus(
        id=row.id,
        filename=row.filename,
        total_rows=row.total_rows,
        valid_rows=row.valid_rows,
        progress=progress,
        onboardings_by_status=await imports.counts(pool, import_id=import_id),
    )


@router.get("/{import_id}/report.csv", response_class=PlainTextResponse)
async def read_import_report(import_id: uuid.UUID, pool: PoolDep, caller: AnyRoleDep) -> str:
    """Every row's outcome: its errors, why it was skipped, or its onboarding and status."""
    await _get(pool, caller, import_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["row", "outcome", "field", "message", "onboarding_id"])
    for record in await imports.report(pool, import_id=import_id):
        for error in record["errors"]:
            writer.writerow([record["row"], "invalid", error["field"], error["message"], ""])
        if record["skipped"] == CANCELLED_BEFORE_START:
            writer.writerow([record["row"], "cancelled", "", record["skipped"], ""])
        elif record["skipped"]:
            writer.writerow([record["row"], "skipped", "siret", record["skipped"], ""])
        elif record["onboarding_id"]:
            writer.writerow(
                [record["row"], record["status"] or "SETTING_UP", "", "", record["onboarding_id"]]
            )
        elif not record["errors"]:
            writer.writerow([record["row"], "pending", "", "", ""])
    return buffer.getvalue()


@router.post("/{import_id}/cancel", response_model=ImportStatus)
async def create_import_cancel(
    import_id: uuid.UUID, pool: PoolDep, temporal: TemporalDep, caller: AnyRoleDep
) -> ImportStatus:
    """Start no more rows; onboardings already started go on."""
    row = await _get(pool, caller, import_id)
    handle = temporal.get_workflow_handle_for(BulkImportWorkflow.run, row.workflow_id)
    try:
        await handle.signal(BulkImportWorkflow.cancel)
    except RPCError as exc:
        raise ProblemError(409, "not-now", "Import already over", str(exc)) from exc
    return await read_import(import_id, pool, temporal, caller)
