"""BulkImportWorkflow: one onboarding per valid row, a bounded number setting up at once.

A sliding window keeps at most `window` onboardings setting up together. A slot is freed when its
onboarding is ready, waits for a person, or fails: the status projection marks the import row in
PostgreSQL and the import reads the marks of its window (a local activity, polled with backoff).
Children used to signal instead; under a steady stream of signals the server refuses
continue-as-new (new events arrived during the task), so runs overshot their history bound or
stalled. For the same reason the onboardings are not children: an activity starts them as
workflows of their own (a child's start and completion are events in the import's history, which
kept refusing continue-as-new while onboardings settled). The workflow continues as new between
batches, or while it waits for its window once its history is over the bound, so its history stays
small however long the file. Cancelling stops starting rows and leaves started ones alone.

Both changes shipped as patches (`import-settled-in-db`, `import-starts-by-activity`) and are now
deprecated (workflows/patches.py): the signal era's branch is gone, so a run begun before them
would no longer replay; `onboarding patches --check` refuses a deploy while one is open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.imports import (
        ImportActivities,
        PrepareBatchInput,
        PreparedRow,
        ReleaseRowsInput,
        SettledRowsInput,
        StartRowsInput,
        StartRowsResult,
        start_onboardings,
    )
    from domain.imports_progress import (
        START_REFUSED,
        BulkImportInput,
        ImportProgress,
        RowSettled,
    )
    from domain.onboarding import OnboardingInput, OnboardingStatus
    from workflows.patches import SETTLED_IN_DB, STARTS_BY_ACTIVITY

PREPARE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
# Starting a window's onboardings: a few seconds at worst; Temporal unreachable only delays it.
START_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
# Reading the window's settled rows: at once, then backing off while nothing settles, so a window
# of slow onboardings costs a few events a poll, not a steady stream of them.
POLL_FIRST = timedelta(milliseconds=250)
POLL_MAX = timedelta(seconds=2)
# A short read; a PostgreSQL outage only delays the import (backoffs past two seconds are timers).
SETTLED_READ_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)


@workflow.defn
class BulkImportWorkflow:
    @workflow.init
    def __init__(self, data: BulkImportInput) -> None:
        self._state = data.model_copy(deep=True)
        # Rows holding a window slot: from the moment their start is sent until they settle.
        self._in_flight: set[int] = set(data.in_flight)
        self._settled: set[int] = set()
        self._pending: list[PreparedRow] = []
        self._starting: set[asyncio.Task[None]] = set()
        self._prefetch: asyncio.Task[None] | None = None
        self._finished = False
        # Deprecated patches: every run takes their branch; the calls replay the markers that
        # runs begun before the deprecation recorded (removed once none of those is open).
        workflow.deprecate_patch(SETTLED_IN_DB)
        workflow.deprecate_patch(STARTS_BY_ACTIVITY)

    @workflow.query
    def progress(self) -> ImportProgress:
        state = self._state
        return ImportProgress(
            import_id=state.import_id,
            counts=state.counts,
            in_flight=len(self._in_flight),
            cancelled=state.cancelled,
            done=state.exhausted and not self._pending and not self._in_flight,
            runs=state.runs,
            finished=self._finished,
        )

    def _settle(self, data: RowSettled) -> None:
        """Ready, waiting for a person, or failed: counted once, and the slot is free."""
        if data.row in self._settled:
            return
        self._settled.add(data.row)
        self._in_flight.discard(data.row)
        counts = self._state.counts
        if data.status == OnboardingStatus.READY.value:
            counts.ready += 1
        elif data.status == OnboardingStatus.AWAITING_COMPANY_DETAILS.value:
            counts.waiting_for_input += 1
        else:
            counts.failed += 1

    @workflow.signal
    def cancel(self) -> None:
        """Start no more rows; the ones already started go on."""
        self._state.cancelled = True

    async def _next_batch(self) -> None:
        state = self._state
        batch = await workflow.execute_activity_method(
            ImportActivities.prepare_batch,
            PrepareBatchInput(
                import_id=state.import_id,
                partner_id=state.partner_id,
                created_by=state.created_by,
                after_row=state.cursor,
                limit=state.batch_size,
                keep_muted=state.keep_muted,
            ),
            # A batch takes well under a second; a worker lost mid-batch is noticed soon.
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=PREPARE_RETRY,
        )
        if batch.last_row is None:
            state.exhausted = True
        else:
            state.cursor = batch.last_row
            self._pending.extend(batch.rows)

    def _launch_free_slots(self) -> None:
        """Every free slot's row at once, in one activity: one task round trip for the lot."""
        state = self._state
        group: list[PreparedRow] = []
        while self._pending and len(self._in_flight) + len(group) < state.window:
            prepared = self._pending.pop(0)
            if prepared.onboarding is None:
                state.counts.skipped += 1
                continue
            group.append(
                prepared.model_copy(
                    update={"onboarding": self._for_import(prepared.row, prepared.onboarding)}
                )
            )
        if not group:
            return
        self._in_flight.update(p.row for p in group if p.row not in self._settled)
        task = asyncio.create_task(self._start_group(group))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    def _for_import(self, row: int, onboarding: OnboardingInput) -> OnboardingInput:
        """The row's onboarding as this import starts it: it knows its import and row, and
        reports settling in the database (`import_reads_settled`, for onboardings of the signal
        era's imports, which signal instead)."""
        return onboarding.model_copy(
            update={
                "import_id": self._state.import_id,
                "import_row": row,
                "import_reads_settled": True,
            }
        )

    async def _start_group(self, group: list[PreparedRow]) -> None:
        state = self._state
        result: StartRowsResult = await workflow.execute_activity(
            start_onboardings,
            StartRowsInput(
                import_id=state.import_id,
                partner_id=state.partner_id,
                task_queue=workflow.info().task_queue,
                rows=group,
            ),
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=START_RETRY,
        )
        state.counts.started += len(result.started) + len(result.already)
        if result.refused:
            # Never started, so never settling: counted as failed, the claim given back.
            for row in result.refused:
                self._settle(RowSettled(row=row, status=OnboardingStatus.FAILED.value))
            await workflow.execute_activity_method(
                ImportActivities.release_rows,
                ReleaseRowsInput(
                    import_id=state.import_id, rows=result.refused, reason=START_REFUSED
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=PREPARE_RETRY,
            )

    def _should_prefetch(self) -> bool:
        """Fetch the next batch while the last rows of this one are starting, so the window
        never drains at a batch boundary (but not once this run is due to continue as new)."""
        state = self._state
        return (
            self._prefetch is None
            and not state.exhausted
            and len(self._pending) <= state.window
            and workflow.info().get_current_history_length() <= state.history_limit
        )

    async def _settle_starts(self) -> None:
        if self._starting:
            await asyncio.gather(*self._starting)
        if self._prefetch is not None:
            await self._prefetch
            self._prefetch = None

    @workflow.run
    async def run(self, data: BulkImportInput) -> ImportProgress:
        state = self._state
        while not state.cancelled:
            if self._should_prefetch():
                self._prefetch = asyncio.create_task(self._next_batch())
            if not self._pending:
                if self._prefetch is not None:
                    await self._prefetch
                    self._prefetch = None
                    continue
                if state.exhausted:
                    break
                # Between batches, with no start in the air: continue as new if due.
                await self._settle_starts()
                if workflow.info().get_current_history_length() > state.history_limit:
                    await self._continue_as_new()
                await self._next_batch()
                continue
            await self._until(lambda: len(self._in_flight) < state.window or state.cancelled)
            if state.cancelled:
                break
            self._launch_free_slots()
        await self._settle_starts()
        if state.cancelled and self._pending:
            await self._release_pending()
        if not state.cancelled:
            # Done only when every started row has settled at least once.
            await self._until(lambda: not self._in_flight or state.cancelled)
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._finished = True
        return self.progress()

    async def _until(self, ready: Callable[[], bool]) -> None:
        """Wait for window slots (or the end of the window): read the settled rows, then back
        off while none settle; past the history bound, continue as new from here."""
        delay = POLL_FIRST
        while not ready():
            found = await self._read_settled()
            if ready():
                return
            if workflow.info().get_current_history_length() > self._state.history_limit:
                await self._continue_as_new()
            delay = POLL_FIRST if found else min(delay * 2, POLL_MAX)
            with suppress(asyncio.TimeoutError):
                await workflow.wait_condition(ready, timeout=delay)  # a cancel wakes it

    async def _read_settled(self) -> int:
        rows = sorted(self._in_flight)
        if not rows:
            return 0
        settled = await workflow.execute_local_activity_method(
            ImportActivities.settled_rows,
            SettledRowsInput(import_id=self._state.import_id, rows=rows),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=SETTLED_READ_RETRY,
            local_retry_threshold=timedelta(seconds=2),
        )
        for row in settled:
            self._settle(row)
        return len(settled)

    async def _release_pending(self) -> None:
        """Rows prepared (their onboarding claimed) but never started give their claim back."""
        rows = [p.row for p in self._pending if p.onboarding is not None]
        self._pending = []
        if rows:
            await workflow.execute_activity_method(
                ImportActivities.release_rows,
                ReleaseRowsInput(import_id=self._state.import_id, rows=rows),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=PREPARE_RETRY,
            )

    async def _continue_as_new(self) -> None:
        await self._settle_starts()
        state = self._state
        if self._pending:
            # Only while waiting for the window: prepare_batch is safe to repeat, so the next
            # run prepares these rows again and finds the same claims.
            state.cursor = self._pending[0].row - 1
            state.exhausted = False
            self._pending = []
        await workflow.wait_condition(workflow.all_handlers_finished)
        carried = state.model_copy(
            update={"in_flight": sorted(self._in_flight), "runs": state.runs + 1}
        )
        workflow.continue_as_new(carried)
