"""Use cases on a firm's bulk imports that the JSON API and the console share: read (dry-run) a
file, keep it and start its import, read an import's progress and its report, list the imports.

Reading and validating a file is CPU-bound work of seconds: it runs in a worker process, at most
`import_max_parallel` files at once per API process, and within the ImportLimits from settings,
so no upload can stall the event loop or take the process's memory.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError, RPCStatusCode

from app import notifications
from app import setups as app_setups
from app.errors import (
    AppError,
    Conflict,
    FieldIssue,
    Invalid,
    NotFound,
    TooLarge,
    Unavailable,
    not_started,
)
from core import workflow_starts
from core.settings import Settings
from core.temporal import QUERY_WAIT, query_not_answered
from domain.imports import (
    ImportFileError,
    ImportLimitExceeded,
    ImportMappingError,
    ImportRead,
    ImportUpload,
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
from store.pool import Pool
from workflows.bulk_import import BulkImportWorkflow

_IMPORT_NS = uuid.UUID("9c4b1f0e-5d2a-4e8b-8f3c-6a7d1e2b0c95")
_FILES_PER_WORKER = 10
# Sizes are 413 (the content is too large); counts of rows or cells are 422 (the content is
# readable, but more than one import takes).
_TOO_LARGE = frozenset({"max_bytes", "max_uncompressed_bytes"})


def _bad(field: str, exc: Exception) -> Invalid:
    return Invalid(
        str(exc),
        slug="invalid-import",
        title="Invalid import",
        errors=(FieldIssue(field, str(exc), field),),
    )


def over_limit(exc: ImportLimitExceeded) -> AppError:
    kind: type[AppError] = TooLarge if exc.limit in _TOO_LARGE else Invalid
    return kind(
        str(exc),
        slug="import-limit-exceeded",
        title="Import over a limit",
        errors=(FieldIssue("file", f"{exc.limit} is {exc.value}", "limit"),),
    )


def _busy(detail: str) -> Unavailable:
    return Unavailable(detail, slug="imports-busy", title="Imports busy", retry_after=10)


@dataclass
class Readers:
    """The worker processes that read import files, and the slots that bound them (one per API
    process, made in its lifespan)."""

    pool: ProcessPoolExecutor
    slots: asyncio.Semaphore
    settings: Settings

    @classmethod
    def start(cls, settings: Settings) -> Readers:
        return cls(
            pool=_process_pool(settings),
            slots=asyncio.Semaphore(settings.import_max_parallel),
            settings=settings,
        )

    async def close(self) -> None:
        # A reader still at work ends with its file (seconds at most, within the limits).
        await asyncio.to_thread(self.pool.shutdown, True, cancel_futures=True)


def _process_pool(settings: Settings) -> ProcessPoolExecutor:
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


async def _read(readers: Readers, upload: ImportUpload, *, with_rows: bool) -> ImportRead:
    """Read `upload` in a worker process once one of the process's reading slots is free;
    Unavailable when none frees up in time, a refusal for a file that cannot be imported.

    The slot is given back when the worker is done, not when the request is: a client that
    hangs up does not let one more file be read at once than the limit says."""
    settings = readers.settings
    limits = settings.import_limits()
    try:
        async with asyncio.timeout(settings.import_wait_seconds):
            await readers.slots.acquire()
    except TimeoutError:
        raise _busy(
            f"{settings.import_max_parallel} import files are being read: try again shortly."
        ) from None
    pool = readers.pool
    try:
        future = asyncio.get_running_loop().run_in_executor(
            pool, partial(prepare_import, upload, limits, with_rows=with_rows)
        )
    except BaseException:
        readers.slots.release()
        raise
    future.add_done_callback(lambda done: _give_back(readers.slots, done))
    try:
        return await asyncio.shield(future)
    except ImportLimitExceeded as exc:
        raise over_limit(exc) from exc
    except ImportMappingError as exc:
        raise _bad("mapping", exc) from exc
    except ImportFileError as exc:
        raise _bad("file", exc) from exc
    except BrokenProcessPool as exc:
        # A worker died (killed for memory, say): the pool takes no more work, so make another.
        if readers.pool is pool:
            readers.pool = _process_pool(settings)
        raise _busy("The file's reader stopped: try again shortly.") from exc


def _give_back(slots: asyncio.Semaphore, done: asyncio.Future[Any]) -> None:
    slots.release()
    if not done.cancelled():
        done.exception()  # retrieved, so an abandoned one is not logged as "never retrieved"


@dataclass(frozen=True)
class ImportFile:
    """A file as uploaded, with the options it is imported with."""

    data: bytes
    filename: str
    template_id: uuid.UUID | None = None
    invitation_mode: InvitationMode | None = None
    mapping: str | None = None  # JSON {"field": "header"}


async def _upload(
    pool: Pool, readers: Readers, *, partner_id: uuid.UUID, file: ImportFile
) -> ImportUpload:
    """The cheap checks first (options, template), before any slot is taken. `file.data` is
    read by the caller up to one byte past the size limit, so that reading it says it is over."""
    try:
        overrides = json.loads(file.mapping) if file.mapping else None
        if overrides is not None and not isinstance(overrides, dict):
            raise ValueError("mapping must be a JSON object of field -> header")
    except ValueError as exc:
        raise _bad("mapping", exc) from exc
    if file.invitation_mode == InvitationMode.scheduled:
        raise _bad(
            "invitation_mode",
            ValueError("a scheduled invitation needs its own time: use immediate or manual"),
        )
    # The template (and its setup) is checked once for the whole file.
    await app_setups.resolve(
        pool, partner_id=partner_id, template_id=file.template_id, overrides=SetupOverrides()
    )
    options = json.dumps(
        {"template": str(file.template_id), "mode": file.invitation_mode, "mapping": overrides},
        sort_keys=True,
    )
    return ImportUpload(
        data=file.data,
        filename=file.filename or "upload",
        overrides=overrides,
        options=options,
        template_id=file.template_id,
        invitation_mode=file.invitation_mode,
    )


async def dry_run(
    pool: Pool, readers: Readers, *, partner_id: uuid.UUID, file: ImportFile
) -> ImportRead:
    """Read and validate every row of `file`: the per-row report, nothing kept or started."""
    upload = await _upload(pool, readers, partner_id=partner_id, file=file)
    return await _read(readers, upload, with_rows=False)


@dataclass(frozen=True)
class Kept:
    """An import kept with all its rows (started or not), and what reading its file found."""

    row: imports.ImportRow
    read: ImportRead
    created: bool


async def keep(
    pool: Pool,
    readers: Readers,
    *,
    partner_id: uuid.UUID,
    user_id: uuid.UUID,
    file: ImportFile,
    idempotency_key: str | None,
) -> Kept:
    """Read `file` and keep it, every row with its errors, as an import not started yet: its id
    comes from the firm and the key (the file and options when no key), so the same file kept
    twice is one import. Conflict when the key was used for another file or options."""
    upload = await _upload(pool, readers, partner_id=partner_id, file=file)
    read = await _read(readers, upload, with_rows=True)
    key = idempotency_key or read.digest
    import_id = uuid.uuid5(_IMPORT_NS, f"{partner_id}:{key}")
    assert read.rows is not None  # with_rows
    stored, created = await imports.create(
        pool,
        import_id=import_id,
        partner_id=partner_id,
        idempotency_key=key,
        request_hash=read.digest,
        workflow_id=workflow_starts.bulk_import_id(import_id),
        filename=upload.filename,
        created_by=user_id,
        rows=read.rows,
    )
    if stored.request_hash != read.digest:
        raise Conflict(
            "This Idempotency-Key was used for a different file or options.",
            slug="idempotency-key-reused",
            title="Idempotency-Key already used",
        )
    return Kept(row=stored, read=read, created=created)


async def confirm(
    pool: Pool,
    temporal: Client,
    settings: Settings,
    *,
    partner_id: uuid.UUID,
    user_id: uuid.UUID,
    import_id: uuid.UUID,
) -> imports.ImportRow:
    """Start the kept import's workflow; once only, however often confirmed (its id is fixed,
    and an import that ran is never run again, even past its workflow's retention)."""
    row = await _get(pool, partner_id=partner_id, import_id=import_id)
    if await imports.started(pool, import_id=import_id):
        return row
    # A file's rows never say keep_muted: the firm's setting when the import starts is theirs
    # (fixed in the workflow's input, so a change of setting during a long import does not split
    # it in two).
    keep_muted = await notifications.keeps_muted(pool, partner_id=partner_id, requested=None)
    data = BulkImportInput(
        import_id=import_id,
        partner_id=partner_id,
        created_by=user_id,
        window=settings.import_window,
        keep_muted=keep_muted,
    )
    try:
        # A run that finished under the import's id was this import.
        await workflow_starts.start(
            temporal, workflow_starts.bulk_import(data), task_queue=settings.task_queue
        )
    except workflow_starts.StartFailed as exc:
        raise not_started(
            exc,
            what="import",
            unavailable="Cannot reach Temporal now; the import was not started.",
        ) from exc
    return row


async def start(
    pool: Pool,
    temporal: Client,
    readers: Readers,
    settings: Settings,
    *,
    partner_id: uuid.UUID,
    user_id: uuid.UUID,
    file: ImportFile,
    idempotency_key: str | None,
) -> Kept:
    """Keep `file` as an import and start it (POST /v1/imports): both once per key."""
    kept = await keep(
        pool,
        readers,
        partner_id=partner_id,
        user_id=user_id,
        file=file,
        idempotency_key=idempotency_key,
    )
    await confirm(
        pool, temporal, settings, partner_id=partner_id, user_id=user_id, import_id=kept.row.id
    )
    return kept


async def _get(pool: Pool, *, partner_id: uuid.UUID, import_id: uuid.UUID) -> imports.ImportRow:
    row = await imports.get(pool, partner_id=partner_id, import_id=import_id)
    if row is None:
        raise NotFound(f"No import {import_id}")
    return row


@dataclass(frozen=True)
class ImportState:
    """An import as of now: its row, its workflow's progress (None: not started, or past the
    workflow's retention), its onboardings by status, and whether it was ever started."""

    row: imports.ImportRow
    progress: ImportProgress | None
    onboardings_by_status: dict[str, int]
    started: bool
    started_at: datetime | None  # when its first row started (the pace's origin)
    # Set when the workflow could not say its progress (no worker answered in time, or its task
    # fails): `progress` is then None and the rows' counts, from the database, are all there is.
    workflow_problem: str | None = None


async def read(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    import_id: uuid.UUID,
    with_start_time: bool = False,
) -> ImportState:
    """Progress: rows started, ready, waiting for input, failed; onboardings by status."""
    row = await _get(pool, partner_id=partner_id, import_id=import_id)
    handle = temporal.get_workflow_handle_for(BulkImportWorkflow.run, row.workflow_id)
    progress: ImportProgress | None = None
    workflow_problem: str | None = None
    try:
        progress = await handle.query(BulkImportWorkflow.progress, rpc_timeout=QUERY_WAIT)
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError):
        workflow_problem = "the import's workflow did not answer its progress query"
    except RPCError as exc:
        if query_not_answered(exc):
            # No worker polls (all down) or its task fails: the rows' own state answers.
            workflow_problem = "the import's workflow did not answer its progress query in time"
        elif exc.status != RPCStatusCode.NOT_FOUND:
            raise Unavailable("Cannot reach the import.") from exc
    # The first row's start, not the workflow's: the import continues as new between batches,
    # and each run starts anew.
    started_at = (
        await imports.first_started_at(pool, import_id=import_id) if with_start_time else None
    )
    return ImportState(
        row=row,
        progress=progress,
        onboardings_by_status=await imports.counts(pool, import_id=import_id),
        # A workflow that did not answer exists: the import was started.
        started=progress is not None
        or workflow_problem is not None
        or await imports.started(pool, import_id=import_id),
        started_at=started_at,
        workflow_problem=workflow_problem,
    )


REPORT_HEADER = ("row", "outcome", "field", "message", "onboarding_id")


async def report(
    pool: Pool, *, partner_id: uuid.UUID, import_id: uuid.UUID
) -> Iterator[tuple[str, ...]]:
    """Every row's outcome (REPORT_HEADER's columns): its errors, why it was skipped, or its
    onboarding and status."""
    await _get(pool, partner_id=partner_id, import_id=import_id)
    return _outcomes(await imports.report(pool, import_id=import_id))


def _outcomes(records: list[dict[str, Any]]) -> Iterator[tuple[str, ...]]:
    for record in records:
        row = str(record["row"])
        for error in record["errors"]:
            yield (row, "invalid", error["field"], error["message"], "")
        if record["skipped"] == CANCELLED_BEFORE_START:
            yield (row, "cancelled", "", record["skipped"], "")
        elif record["skipped"] == START_REFUSED:
            yield (row, "failed", "", record["skipped"], "")
        elif record["skipped"]:
            yield (row, "skipped", "siret", record["skipped"], "")
        elif record["onboarding_id"]:
            yield (row, record["status"] or "SETTING_UP", "", "", str(record["onboarding_id"]))
        elif not record["errors"]:
            yield (row, "pending", "", "", "")


async def errors_by_row(
    pool: Pool, *, partner_id: uuid.UUID, import_id: uuid.UUID
) -> list[tuple[int, list[dict[str, str]]]]:
    """The kept import's invalid rows, each with its errors by column (the dry-run report)."""
    await _get(pool, partner_id=partner_id, import_id=import_id)
    return [
        (int(r["row"]), list(r["errors"]))
        for r in await imports.report(pool, import_id=import_id)
        if r["errors"]
    ]


async def cancel(
    pool: Pool, temporal: Client, *, partner_id: uuid.UUID, import_id: uuid.UUID
) -> None:
    """Start no more rows; onboardings already started go on."""
    row = await _get(pool, partner_id=partner_id, import_id=import_id)
    handle = temporal.get_workflow_handle_for(BulkImportWorkflow.run, row.workflow_id)
    try:
        await handle.signal(BulkImportWorkflow.cancel)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise Unavailable("Cannot reach the import now; nothing was cancelled.") from exc
        # Our words: the server's message names the workflow and its run.
        raise Conflict(
            "This import is over: every row was started or it was cancelled before.",
            title="Import already over",
        ) from exc


async def list_imports(
    pool: Pool, *, partner_id: uuid.UUID, limit: int
) -> list[imports.ImportListRow]:
    """The firm's imports, newest first, with how many rows each has settled."""
    return await imports.list_for_partner(pool, partner_id=partner_id, limit=limit)


def eta_seconds(*, settled: int, remaining: int, since: datetime, now: datetime) -> int | None:
    """Time left at the pace so far (rows settled since the import started); None before the
    first row settles or once none remains."""
    elapsed = (now - since).total_seconds()
    if settled <= 0 or remaining <= 0 or elapsed <= 0:
        return None
    return max(1, round(remaining * elapsed / settled))
