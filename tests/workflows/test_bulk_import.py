"""BulkImportWorkflow on the dev server, with fake prepare, release and settled-rows activities
and a fake onboarding child registered under the real workflow's name. The import rows' settled
marks, which the status projection writes in PostgreSQL (tested in tests/store), are a dict here:
this module is about the window, the batches and continue-as-new."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

from temporalio import workflow
from temporalio.testing import WorkflowEnvironment

from core.temporal import history_lengths
from domain import search_attributes as sa
from domain.imports_progress import BulkImportInput, ImportProgress
from domain.onboarding import OnboardingInput, workflow_id_for
from tests.eventually import eventually
from tests.workflow_helpers import ROWS, Reads, _runs, bulk_worker, record_status
from workflows.bulk_import import BulkImportWorkflow

HISTORY_LIMIT = 600
BATCH = 100


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

    async def count() -> int:
        return (await client.count_workflows(query)).count

    # Visibility is eventually consistent.
    counted = await eventually(
        count,
        until=lambda n: n == progress.counts.started,
        what="every started onboarding listed by PartnerId",
        within=10,
        every=0.1,
    )
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

        async def in_flight() -> int:
            seen.append((await handle.query(BulkImportWorkflow.progress)).in_flight)
            return seen[-1]

        await eventually(
            in_flight, until=lambda n: n == 7, what="the window full", within=30, every=0.1
        )
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
    from tests.factories import converter_for_tests

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
