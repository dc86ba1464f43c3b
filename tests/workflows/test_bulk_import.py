"""BulkImportWorkflow on the dev server, with fake prepare, release and settled-rows activities
and a fake onboarding child registered under the real workflow's name. The import rows' settled
marks, which the status projection writes in PostgreSQL (tested in tests/store), are a dict here:
this module is about the window, the batches and continue-as-new."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.imports import (
    PrepareBatchInput,
    PrepareBatchResult,
    PreparedRow,
    ReleaseRowsInput,
    SettledRowsInput,
    start_onboardings,
)
from core.temporal import history_lengths
from domain import search_attributes as sa
from domain.fiscal_calendar import FiscalYear
from domain.imports_progress import BulkImportInput, ImportProgress, RowSettled
from domain.onboarding import ClientIn, DirectorIn, Language, OnboardingInput, workflow_id_for
from workflows.bulk_import import BulkImportWorkflow

# Enough rows for several runs at the test's history limit; the same bound holds for 5,000 rows
# at the default limit (measured in `make bench`), only slower on the test server.
ROWS = 300
HISTORY_LIMIT = 600
BATCH = 100
SETUP_TIME = timedelta(seconds=2)  # how long a "slow" fake onboarding takes to settle
# How long a fake onboarding sets up, by partner name ("fast" settles at once).
SETUP_TIMES = {"slow": SETUP_TIME, "steady": timedelta(milliseconds=300)}


# (import, row) -> the first settling status, as import_rows.settled_status holds it.
MARKS: dict[tuple[uuid.UUID, int], str] = {}


@activity.defn(name="record_status")
async def record_status(data: tuple[uuid.UUID, int, str]) -> None:
    import_id, row, status = data
    MARKS.setdefault((import_id, row), status)


@workflow.defn(name="OnboardingWorkflow")
class FakeOnboarding:
    """Sets up for a while, then records its status as the real one does (the projection marks
    the import row); an input from an import of the signal era signals instead."""

    @workflow.run
    async def run(self, data: OnboardingInput) -> None:
        await workflow.sleep(SETUP_TIMES.get(data.partner_name, timedelta(0)))
        assert data.import_row is not None and data.import_id
        status = "FAILED" if data.import_row % 97 == 0 else "READY"
        if data.import_reads_settled:
            await workflow.execute_activity(
                record_status,
                (data.import_id, data.import_row, status),
                start_to_close_timeout=timedelta(seconds=10),
            )
        else:
            parent = workflow.info().parent
            assert parent is not None, "an import of the signal era starts children"
            await workflow.get_external_workflow_handle(parent.workflow_id).signal(
                "row_settled", RowSettled(row=data.import_row, status=status)
            )


@dataclass
class Reads:
    """What the fake settled_rows answered, by import run."""

    by_run: dict[str, list[int]] = field(default_factory=dict)


def make_settled_rows(reads: Reads) -> Callable[[SettledRowsInput], Awaitable[list[RowSettled]]]:
    @activity.defn(name="settled_rows")
    async def settled_rows(data: SettledRowsInput) -> list[RowSettled]:
        found = [
            RowSettled(row=row, status=MARKS[(data.import_id, row)])
            for row in data.rows
            if (data.import_id, row) in MARKS
        ]
        reads.by_run.setdefault(activity.info().workflow_run_id or "", []).extend(
            r.row for r in found
        )
        return found

    return settled_rows


def _onboarding(import_id: uuid.UUID, row: int, partner_name: str) -> OnboardingInput:
    return OnboardingInput(
        # One id per (import, row), as in prepare_batch: a row prepared twice is the same
        # onboarding, and no two tests share a child (one left running by a cancelled import
        # would answer "already started" to the next).
        onboarding_id=uuid.uuid5(uuid.NAMESPACE_OID, f"{import_id}:row-{row}"),
        partner_id=uuid.uuid4(),
        partner_name=partner_name,
        client=ClientIn(
            first_name="A",
            last_name=f"Row {row}",
            email=f"r{row}@example.com",
            language=Language.fr,
        ),
        fiscal_year=FiscalYear.from_start(date(2026, 1, 1)),
        director=DirectorIn(email=f"r{row}@example.com", first_name="A", last_name="B"),
    )


def make_prepare(partner_name: str) -> Callable[[PrepareBatchInput], Awaitable[PrepareBatchResult]]:
    """A fake prepare_batch; onboardings of a "slow" partner take SETUP_TIME to settle."""

    @activity.defn(name="prepare_batch")
    async def prepare_batch(data: PrepareBatchInput) -> PrepareBatchResult:
        rows = [r for r in range(data.after_row + 1, data.after_row + data.limit + 1) if r <= ROWS]
        prepared = [
            # Every 50th row is already a client of the partner: reported, not onboarded.
            PreparedRow(row=r, onboarding=None, skipped="already a client")
            if r % 50 == 0
            else PreparedRow(row=r, onboarding=_onboarding(data.import_id, r, partner_name))
            for r in rows
        ]
        return PrepareBatchResult(rows=prepared, last_row=rows[-1] if rows else None)

    return prepare_batch


def make_release(released: list[int]) -> Callable[[ReleaseRowsInput], Awaitable[int]]:
    """A fake release_rows that records the rows given back."""

    @activity.defn(name="release_rows")
    async def release_rows(data: ReleaseRowsInput) -> int:
        released.extend(data.rows)
        return len(data.rows)

    return release_rows


def bulk_worker(
    client: Client,
    queue: str,
    partner_name: str,
    *,
    reads: Reads | None = None,
    released: list[int] | None = None,
    onboarding: type = FakeOnboarding,
) -> Worker:
    """The import and its stand-ins on `queue`: fake prepare, release and settled-rows
    activities, the real `start_onboardings`, and `onboarding` under the real workflow's name."""
    return Worker(
        client,
        task_queue=queue,
        workflows=[BulkImportWorkflow, onboarding],
        activities=[
            make_prepare(partner_name),
            make_release([] if released is None else released),
            record_status,
            start_onboardings,
            make_settled_rows(Reads() if reads is None else reads),
        ],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


async def test_rows_start_once_and_each_run_stays_under_its_history_bound(
    temporal_env: WorkflowEnvironment,
) -> None:
    # The dev server: the time-skipping one does not follow signals across continue-as-new.
    """300 rows through a window of 100: every row started once (skips reported), and
    continue-as-new keeps every run under its limit plus one batch of events."""
    # Started by an activity, the onboardings cost the import's history a few events a window,
    # not three a row: only the lowest limit allowed makes 300 rows span several runs, and only
    # with small batches whatever the machine's pace. With batches of 100 a busy machine settled
    # whole windows between two reads and finished in one run of 106 events; batches of 20 cost
    # at least two activities each (prepare, start), 15 of them, well past the limit.
    history_limit = 100
    batch_size = 20
    client = temporal_env.client
    partner_id, import_id = uuid.uuid4(), uuid.uuid4()
    queue = f"bulk-{uuid.uuid4().hex[:8]}"
    async with bulk_worker(client, queue, "fast"):
        handle = await client.start_workflow(
            BulkImportWorkflow.run,
            BulkImportInput(
                import_id=import_id,
                partner_id=partner_id,
                window=100,
                batch_size=batch_size,
                history_limit=history_limit,
            ),
            id=f"import-{uuid.uuid4()}",
            task_queue=queue,
        )
        progress: ImportProgress = await handle.result()
        lengths = await history_lengths(client, handle.id, handle.result_run_id or "")
    skipped = ROWS // 50
    assert progress.counts.started == ROWS - skipped
    assert progress.counts.skipped == skipped
    assert progress.counts.ready + progress.counts.failed == ROWS - skipped
    assert progress.counts.failed == len([r for r in range(1, ROWS + 1) if r % 97 == 0 and r % 50])
    assert progress.done and progress.finished and progress.in_flight == 0
    assert len(lengths) == progress.runs > 1, lengths
    assert max(lengths) < history_limit + 10 * batch_size, lengths
    # Imported onboardings carry PartnerId and their status from their start, as the API's do:
    # ops list them per partner in the UI, and the UI shows each with a summary of ids.
    query = f"PartnerId = '{partner_id}' AND WorkflowType = 'OnboardingWorkflow'"
    counted = 0
    for _ in range(100):
        counted = (await client.count_workflows(query)).count
        if counted == progress.counts.started:
            break
        await asyncio.sleep(0.1)
    assert counted == progress.counts.started
    child = await client.get_workflow_handle(
        workflow_id_for(uuid.uuid5(uuid.NAMESPACE_OID, f"{import_id}:row-1"))
    ).describe()
    assert child.typed_search_attributes.get(sa.ONBOARDING_STATUS) == "SETTING_UP"
    summary = await child.static_summary()
    assert summary is not None and str(partner_id) in summary and "import" in summary


async def test_window_bounds_rows_setting_up_and_cancel_stops_new_ones(
    temporal_env: WorkflowEnvironment,
) -> None:
    """Never more than `window` rows setting up at once; a cancel starts no more rows, and the
    rows prepared but not started give their claim back."""
    # The dev server, not the time-skipping one: the latter wedges on abandoned children.
    released: list[int] = []
    client = temporal_env.client
    queue = f"bulk-{uuid.uuid4().hex[:8]}"
    async with bulk_worker(client, queue, "slow", released=released):
        handle = await client.start_workflow(
            BulkImportWorkflow.run,
            BulkImportInput(import_id=uuid.uuid4(), partner_id=uuid.uuid4(), window=7),
            id=f"import-{uuid.uuid4()}",
            task_queue=queue,
        )
        # The window fills (however long the worker takes to get there), then never overflows.
        seen = []
        for _ in range(300):
            progress = await handle.query(BulkImportWorkflow.progress)
            seen.append(progress.in_flight)
            if progress.in_flight == 7:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(seen)
        for _ in range(8):
            await asyncio.sleep(0.25)
            seen.append((await handle.query(BulkImportWorkflow.progress)).in_flight)
        assert max(seen) == 7, seen
        await handle.signal(BulkImportWorkflow.cancel)
        final = await handle.result()
    assert final.cancelled and final.finished and not final.done
    assert final.counts.started < ROWS // 2
    # Rows go in file order: every prepared row after the last one started is given back, once
    # (but the rows skipped as already clients, which claimed nothing).
    first_unstarted = final.counts.started + final.counts.skipped + 1
    assert sorted(released) == [r for r in range(first_unstarted, BATCH + 1) if r % 50]


async def _runs(
    client: Client, workflow_id: str, first_run: str
) -> list[tuple[str, WorkflowHistory]]:
    """Every run of the import (its id and history), following continue-as-new."""
    runs: list[tuple[str, WorkflowHistory]] = []
    run_id: str | None = first_run
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.append((run_id, history))
        attributes = history.events[-1].workflow_execution_continued_as_new_event_attributes
        run_id = attributes.new_execution_run_id or None
    return runs


async def test_children_in_flight_cross_continue_as_new_and_settle_once(
    temporal_env: WorkflowEnvironment,
) -> None:
    """Onboardings still setting up when a run continues as new are carried, not waited for:
    the next run starts with them in its window, reads them settled, and every row counts
    exactly once."""
    client = temporal_env.client
    queue = f"bulk-{uuid.uuid4().hex[:8]}"
    reads = Reads()
    async with bulk_worker(client, queue, "steady", reads=reads):
        handle = await client.start_workflow(
            BulkImportWorkflow.run,
            BulkImportInput(
                import_id=uuid.uuid4(),
                partner_id=uuid.uuid4(),
                window=30,
                batch_size=50,
                history_limit=100,  # the lowest allowed: several runs for 300 rows
            ),
            id=f"import-{uuid.uuid4()}",
            task_queue=queue,
        )
        progress: ImportProgress = await handle.result()
        runs = await _runs(client, handle.id, handle.result_run_id or "")
    converter = client.data_converter
    carried: list[list[int]] = []  # the window each run started with
    settled_in: list[set[int]] = []  # the rows each run read as settled
    settled: Counter[int] = Counter()
    for run_id, history in runs:
        started = history.events[0].workflow_execution_started_event_attributes
        [data] = await converter.decode(list(started.input.payloads), [BulkImportInput])
        carried.append(data.in_flight)
        # A local activity may run again if its workflow task failed; the run counts it once.
        read = set(reads.by_run.get(run_id, []))
        settled_in.append(read)
        settled.update(read)
        assert not any(
            e.HasField("workflow_execution_signaled_event_attributes") for e in history.events
        ), "onboardings of a new import send no signal"
        assert not any(
            e.HasField("start_child_workflow_execution_initiated_event_attributes")
            or e.HasField("child_workflow_execution_completed_event_attributes")
            for e in history.events
        ), "nor are they children: no event of theirs reaches the import's history"
    rows = [r for r in range(1, ROWS + 1) if r % 50]
    assert len(runs) == progress.runs >= 3
    # At a boundary the window was not drained: rows in flight went over to the next run...
    assert any(carried[1:]), carried
    for run, window in enumerate(carried):
        # ...still setting up (not settled before the boundary), and settled after it.
        assert not set(window) & settled_in[run - 1] if run else not window
        assert set(window) <= set().union(*settled_in[run:])
    assert sorted(settled) == rows and set(settled.values()) == {1}
    assert progress.counts.ready + progress.counts.failed == progress.counts.started == len(rows)
    assert progress.done and progress.in_flight == 0


# Temporal caps the children a run may have pending (2,000 by default). Imported onboardings
# with a manual invitation stay running for weeks, so an import that started them as children
# wedged once a run had started that many: seen in the 10,000-row memory benchmark, where the
# import stopped at 2,000 rows ("the number of pending child workflow executions, 2000, has
# reached the per-workflow limit"). A dev server with the cap at 20 shows it in seconds.
PENDING_CHILDREN_CAP = 20


@workflow.defn(name="OnboardingWorkflow")
class StaysRunning:
    """Sets up at once, then waits for its director for ever, as a manual invitation does."""

    @workflow.run
    async def run(self, data: OnboardingInput) -> None:
        assert data.import_row is not None and data.import_id
        await workflow.execute_activity(
            record_status,
            (data.import_id, data.import_row, "READY"),
            start_to_close_timeout=timedelta(seconds=10),
        )
        await workflow.wait_condition(lambda: False)


async def test_more_onboardings_left_running_than_temporal_lets_a_run_have_children() -> None:
    from devstack.temporal_server import temporal_cli
    from domain.search_attributes import ALL_KEYS
    from tests.conftest import converter_for_tests

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=ALL_KEYS,
        data_converter=converter_for_tests(),
        dev_server_log_level="error",
        dev_server_extra_args=[
            "--headless",
            "--dynamic-config-value",
            f"limit.numPendingChildExecutions.error={PENDING_CHILDREN_CAP}",
        ],
    )
    try:
        client = env.client
        queue = f"bulk-{uuid.uuid4().hex[:8]}"
        async with bulk_worker(client, queue, "fast", onboarding=StaysRunning):
            handle = await client.start_workflow(
                BulkImportWorkflow.run,
                # 300 rows in one run (the default history limit): the cap is per run.
                BulkImportInput(import_id=uuid.uuid4(), partner_id=uuid.uuid4()),
                id=f"import-{uuid.uuid4()}",
                task_queue=queue,
            )
            # Wedged, the import never finishes: bounded here so the test fails instead.
            progress: ImportProgress = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        await env.shutdown()
    assert ROWS > 10 * PENDING_CHILDREN_CAP > BulkImportInput.model_fields["window"].default
    assert progress.runs == 1
    assert progress.counts.started == progress.counts.ready == ROWS - ROWS // 50
