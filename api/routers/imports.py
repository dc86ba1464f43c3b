"""/v1/imports: onboard a firm's whole client list from a CSV or Excel file.

Reading and validating a file is CPU-bound work of seconds: it runs in a worker process, at most
`import_max_parallel` files at once per API process, and within the ImportLimits from settings,
so no upload can stall the event loop or take the process's memory.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import multiprocessing
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, File, Form, Header, Request, Response, UploadFile, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import AnyRoleDep, PoolDep, ServicesDep, TemporalDep
from api.problems import FieldError, ProblemError, problem_responses
from api.setups import resolve_or_problem
from core.settings import Settings
from domain.imports import (
    ImportFileError,
    ImportLimitExceeded,
    ImportLimits,
    ImportMappingError,
    ImportRead,
    ImportUpload,
    RowError,
    prepare_import,
)
from domain.imports_progress import (
    CANCELLED_BEFORE_START,
    START_REFUSED,
    BulkImportInput,
    ImportProgress,
)
from domain.setup import InvitationMode, SetupOverrides
from store import imports
from workflows.bulk_import import BulkImportWorkflow

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


# Sizes are 413 (the content is too large); counts of rows or cells are 422 (the content is
# readable, but more than one import takes).
_TOO_LARGE = frozenset({"max_bytes", "max_uncompressed_bytes"})


def _over_limit(exc: ImportLimitExceeded) -> ProblemError:
    return ProblemError(
        413 if exc.limit in _TOO_LARGE else 422,
        "import-limit-exceeded",
        "Import over a limit",
        str(exc),
        errors=[FieldError(field="file", message=f"{exc.limit} is {exc.value}")],
    )


def limits_of(settings: Settings) -> ImportLimits:
    return ImportLimits(
        max_bytes=settings.import_max_bytes,
        max_uncompressed_bytes=settings.import_max_uncompressed_bytes,
        max_rows=settings.import_max_rows,
        max_columns=settings.import_max_columns,
    )


@dataclass(frozen=True)
class _Readers:
    """The worker processes that read import files, and the slots that bound them."""

    pool: ProcessPoolExecutor
    slots: asyncio.Semaphore


@asynccontextmanager
async def _readers(app: FastAPI) -> AsyncIterator[None]:
    """Lifespan of the import readers, merged into the app's (its services are set by then)."""
    settings: Settings = app.state.services.settings
    app.state.import_readers = _Readers(
        pool=_pool(settings), slots=asyncio.Semaphore(settings.import_max_parallel)
    )
    try:
        yield
    finally:
        # A reader still at work ends with its file (seconds at most, within the limits).
        await asyncio.to_thread(app.state.import_readers.pool.shutdown, True, cancel_futures=True)


def _pool(settings: Settings) -> ProcessPoolExecutor:
    # Processes, not threads: measured with a thread, the garbage collections a 20,000-row file
    # triggers took 130 to 500 ms each with the GIL held, and the loop stalled as long
    # (docs/guides/partner/imports.md).
    # spawn, not fork: the API process runs threads (Temporal's core, the default executor), and
    # forking a process with threads can deadlock the child. Workers start on first use and are
    # replaced every few files, which gives back the memory a large file left them.
    return ProcessPoolExecutor(
        max_workers=settings.import_max_parallel,
        mp_context=multiprocessing.get_context("spawn"),
        max_tasks_per_child=_FILES_PER_WORKER,
    )


_FILES_PER_WORKER = 10


async def _read_upload(
    request: Request, upload: ImportUpload, limits: ImportLimits, *, with_rows: bool
) -> ImportRead:
    """Read `upload` in a worker process once one of the process's reading slots is free;
    answer 503 when none frees up in time, and a problem for a file that cannot be imported.

    The slot is given back when the worker is done, not when the request is: a client that
    hangs up does not let one more file be read at once than the limit says."""
    readers: _Readers = request.app.state.import_readers
    settings: Settings = request.app.state.services.settings
    try:
        async with asyncio.timeout(settings.import_wait_seconds):
            await readers.slots.acquire()
    except TimeoutError:
        raise ProblemError(
            503,
            "imports-busy",
            "Imports busy",
            f"{settings.import_max_parallel} import files are being read: try again shortly.",
            headers={"Retry-After": "10"},
        ) from None
    try:
        future = asyncio.get_running_loop().run_in_executor(
            readers.pool, partial(prepare_import, upload, limits, with_rows=with_rows)
        )
    except BaseException:
        readers.slots.release()
        raise
    future.add_done_callback(lambda done: _give_back(readers.slots, done))
    try:
        return await asyncio.shield(future)
    except ImportLimitExceeded as exc:
        raise _over_limit(exc) from exc
    except ImportMappingError as exc:
        raise _bad("mapping", exc) from exc
    except ImportFileError as exc:
        raise _bad("file", exc) from exc
    except BrokenProcessPool as exc:
        # A worker died (killed for memory, say): the pool takes no more work, so make another.
        if readers.pool is request.app.state.import_readers.pool:
            request.app.state.import_readers = _Readers(pool=_pool(settings), slots=readers.slots)
        raise ProblemError(
            503,
            "imports-busy",
            "Imports busy",
            "The file's reader stopped: try again shortly.",
            headers={"Retry-After": "10"},
        ) from exc


def _give_back(slots: asyncio.Semaphore, done: asyncio.Future[Any]) -> None:
    slots.release()
    if not done.cancelled():
        done.exception()  # retrieved, so an abandoned one is not logged as "never retrieved"


router = APIRouter(prefix="/v1/imports", tags=["imports"], lifespan=_readers)


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
    settings = services.settings
    limits = limits_of(settings)
    # The cheap checks first, before any slot is taken or byte read.
    if file.size is not None and file.size > limits.max_bytes:
        raise _over_limit(
            ImportLimitExceeded(
                f"the file is over {limits.max_bytes:,} bytes, the most one import takes",
                limit="max_bytes",
                value=limits.max_bytes,
            )
        )
    filename = file.filename or "upload"
    try:
        overrides = json.loads(mapping) if mapping else None
        if overrides is not None and not isinstance(overrides, dict):
            raise ValueError("mapping must be a JSON object of field -> header")
    except ValueError as exc:
        raise _bad("mapping", exc) from exc
    if invitation_mode == InvitationMode.scheduled:
        raise _bad(
            "invitation_mode",
            ValueError("a scheduled invitation needs its own time: use immediate or manual"),
        )
    # The template (and its setup) is checked once for the whole file.
    await resolve_or_problem(services.pool, caller.partner.id, template_id, SetupOverrides())
    options = json.dumps(
        {"template": str(template_id), "mode": invitation_mode, "mapping": overrides},
        sort_keys=True,
    )
    upload = ImportUpload(
        # Past the limit by one byte, so that read_table sees the file is over it.
        data=await file.read(limits.max_bytes + 1),
        filename=filename,
        overrides=overrides,
        options=options,
        template_id=template_id,
        invitation_mode=invitation_mode,
    )
    read = await _read_upload(request, upload, limits, with_rows=not dry_run)
    digest = read.digest
    if dry_run:
        response.status_code = status.HTTP_200_OK
        return ImportAccepted(dry_run=True, total=read.total, valid=read.valid, errors=read.errors)

    key = idempotency_key or digest
    import_id = uuid.uuid5(_IMPORT_NS, f"{caller.partner.id}:{key}")
    assert read.rows is not None  # with_rows
    stored, created = await imports.create(
        services.pool,
        import_id=import_id,
        partner_id=caller.partner.id,
        idempotency_key=key,
        request_hash=digest,
        workflow_id=f"import-{import_id}",
        filename=filename,
        created_by=caller.user.id,
        rows=read.rows,
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
        total=read.total,
        valid=read.valid,
        errors=read.errors,
        status_url=f"/v1/imports/{import_id}",
    )


async def _get(pool: PoolDep, caller: AnyRoleDep, import_id: uuid.UUID) -> imports.ImportRow:
    row = await imports.get(pool, partner_id=caller.partner.id, import_id=import_id)
    if row is None:
        raise ProblemError(404, "not-found", "Not found", f"No import {import_id}")
    return row


@router.get("/{import_id}", response_model=ImportStatus, responses=problem_responses(404, 503))
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


@router.get(
    "/{import_id}/report.csv", response_class=PlainTextResponse, responses=problem_responses(404)
)
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
        elif record["skipped"] == START_REFUSED:
            writer.writerow([record["row"], "failed", "", record["skipped"], ""])
        elif record["skipped"]:
            writer.writerow([record["row"], "skipped", "siret", record["skipped"], ""])
        elif record["onboarding_id"]:
            writer.writerow(
                [record["row"], record["status"] or "SETTING_UP", "", "", record["onboarding_id"]]
            )
        elif not record["errors"]:
            writer.writerow([record["row"], "pending", "", "", ""])
    return buffer.getvalue()


@router.post(
    "/{import_id}/cancel", response_model=ImportStatus, responses=problem_responses(404, 409, 503)
)
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
