"""The history benchmark: BulkImportWorkflow's history per run for a 5,000-row import.

Issue 6's target: under 10,000 events per run; issue 12's: rows/s through a continue-as-new at 90%
of the steady rate. The real workflow runs on the dev server with its defaults (window, batch
size) but a history limit of 1,000 (`--history-limit`): a row costs the import about one event
since the onboardings are no longer its children, so 5,000 rows would fit in one run at the
default 6,000 and cross no boundary. What it drives is stood in for, so 5,000 rows take a
minute or two instead of 12 at the registry's 7/s:
- `prepare_batch` hands out made-up rows (no database);
- the workflow registered as "OnboardingWorkflow" records READY at once (an activity marks its
  row, as the real status projection does in PostgreSQL; `settled_rows` reads the marks from
  memory), then completes. The onboardings are started by the real `start_onboardings` activity,
  as workflows of their own: their completions are not events of the import.

With onboardings that settle at once, the rows per second it reaches are the bulk workflow's own
ceiling on this machine, whatever the registry allows: reported alongside.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.imports import (
    PrepareBatchInput,
    PrepareBatchResult,
    PreparedRow,
    SettledRowsInput,
    start_onboardings,
)
from bench.report import Figure
from core.temporal import history_lengths
from domain.fiscal_calendar import FiscalYear
from domain.imports_progress import BulkImportInput, ImportProgress, RowSettled
from domain.onboarding import ClientIn, DirectorIn, Language, OnboardingInput, OnboardingStatus
from workflows.bulk_import import BulkImportWorkflow

log = logging.getLogger(__name__)

TARGET_MAX_EVENTS = 10_000
TARGET_BOUNDARY_RATIO = 0.90
SAMPLE_EVERY = 0.5
# Seconds either side of a continue-as-new taken as "through the boundary": the drain measured
# in issue 12 lasted several seconds.
BOUNDARY_WINDOW = 5.0


# (import, row) -> settling status: what import_rows.settled_status holds in production.
_MARKS: dict[tuple[uuid.UUID, int], str] = {}


@activity.defn(name="record_status")
async def record_status(data: tuple[uuid.UUID, int]) -> None:
    _MARKS.setdefault((data[0], data[1]), OnboardingStatus.READY.value)


@activity.defn(name="settled_rows")
async def settled_rows(data: SettledRowsInput) -> list[RowSettled]:
    return [
        RowSettled(row=row, status=_MARKS[(data.import_id, row)])
        for row in data.rows
        if (data.import_id, row) in _MARKS
    ]


@workflow.defn(name="OnboardingWorkflow")
class ReadyAtOnce:
    """Stands in for an onboarding: records READY at once, as the real one does when set up."""

    @workflow.run
    async def run(self, data: OnboardingInput) -> None:
        if data.import_id is None or data.import_row is None:
            return
        await workflow.execute_activity(
            record_status,
            (data.import_id, data.import_row),
            start_to_close_timeout=timedelta(seconds=10),
        )


def _onboarding(row: int, partner_id: uuid.UUID) -> OnboardingInput:
    email = f"direction{row:05d}@bench.example"
    return OnboardingInput(
        onboarding_id=uuid.uuid5(partner_id, f"row-{row}"),
        partner_id=partner_id,
        partner_name="Cabinet Bench",
        client=ClientIn(
            first_name="Camille", last_name=f"Client {row}", email=email, language=Language.fr
        ),
        fiscal_year=FiscalYear.from_start(date(2026, 1, 1)),
        director=DirectorIn(email=email, first_name="Camille", last_name=f"Client {row}"),
    )


def make_prepare(rows: int) -> Callable[[PrepareBatchInput], Awaitable[PrepareBatchResult]]:
    """prepare_batch over `rows` made-up rows, numbered from 2 as in a file with a header."""

    @activity.defn(name="prepare_batch")
    async def prepare_batch(data: PrepareBatchInput) -> PrepareBatchResult:
        first = max(data.after_row + 1, 2)
        numbers = list(range(first, min(first + data.limit, rows + 2)))
        return PrepareBatchResult(
            rows=[PreparedRow(row=r, onboarding=_onboarding(r, data.partner_id)) for r in numbers],
            last_row=numbers[-1] if numbers else None,
        )

    return prepare_batch


@dataclass
class HistoryOutcome:
    rows: int
    defaults: BulkImportInput
    seconds: float = 0.0
    progress: dict[str, Any] = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list)
    steady_rate: float | None = None
    boundary_rates: list[float] = field(default_factory=list)

    @property
    def worst_boundary_ratio(self) -> float | None:
        if not self.steady_rate or not self.boundary_rates:
            return None
        return min(self.boundary_rates) / self.steady_rate

    def figures(self) -> list[Figure]:
        counts = self.progress.get("counts", {})
        settled = sum(int(counts.get(k, 0)) for k in ("ready", "waiting_for_input", "failed"))
        longest = max(self.lengths) if self.lengths else None
        return [
            Figure(
                "history",
                "rows settled (import done)",
                settled,
                "rows",
                f"= {self.rows}",
                bool(self.progress.get("done")) and settled == self.rows,
            ),
            Figure("history", "workflow runs (continue-as-new)", len(self.lengths), "", "", None),
            Figure(
                "history",
                "max events in one run",
                longest,
                "",
                f"< {TARGET_MAX_EVENTS:,}",
                longest is not None and longest < TARGET_MAX_EVENTS,
            ),
            Figure("history", "import duration", self.seconds, "s", "", None),
            # With onboardings that settle at once, this is the most rows a second the bulk
            # workflow itself can start on this machine: a ceiling for any real import.
            Figure(
                "history",
                "rows/s through the bulk workflow",
                settled / self.seconds if self.seconds else None,
                "/s",
                "",
                None,
            ),
            Figure(
                "history", "steady rows/s (away from boundaries)", self.steady_rate, "/s", "", None
            ),
            Figure(
                "history",
                f"rows/s within {BOUNDARY_WINDOW:g} s of a boundary, worst",
                min(self.boundary_rates) if self.boundary_rates else None,
                "/s",
                f"{len(self.boundary_rates)} boundaries",
                None,
            ),
            Figure(
                "history",
                "boundary rows/s / steady, worst",
                self.worst_boundary_ratio,
                "",
                f">= {TARGET_BOUNDARY_RATIO:.2f}",
                None
                if self.worst_boundary_ratio is None
                else self.worst_boundary_ratio >= TARGET_BOUNDARY_RATIO,
            ),
        ]

    def details(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "window": self.defaults.window,
            "batch_size": self.defaults.batch_size,
            "history_limit": self.defaults.history_limit,
            "seconds": round(self.seconds, 3),
            "events_per_run": self.lengths,
            "steady_rows_per_s": self.steady_rate,
            "boundary_rows_per_s": self.boundary_rates,
            "progress": self.progress,
        }


async def _follow(
    client: Client,
    workflow_id: str,
    result: asyncio.Task[ImportProgress],
    progress_every: float,
    samples: list[tuple[float, int, int]],
) -> None:
    """Sample (seconds since start, rows settled, run number) every SAMPLE_EVERY seconds into
    `samples` until `result` is done, and log a progress line every `progress_every` seconds."""
    started = time.monotonic()
    latest: WorkflowHandle[Any, Any] = client.get_workflow_handle(workflow_id)  # the newest run
    settled_before, at_before = 0, started
    while not result.done():
        await asyncio.wait({result}, timeout=SAMPLE_EVERY)
        if result.done():
            return
        try:
            progress = await latest.query(BulkImportWorkflow.progress)
        except RPCError:
            continue  # between two runs of the chain: ask again next time
        now = time.monotonic()
        counts = progress.counts
        settled = counts.ready + counts.waiting_for_input + counts.failed
        samples.append((now - started, settled, progress.runs))
        if now - at_before < progress_every:
            continue
        try:
            described = await latest.describe()
        except RPCError:
            continue
        log.info(
            "history bench progress",
            extra={
                "elapsed_s": round(now - started, 1),
                "settled": settled,
                "started": counts.started,
                "in_flight": progress.in_flight,
                "run": progress.runs,
                "events_this_run": described.history_length,
                "rows_per_s": round((settled - settled_before) / max(now - at_before, 1e-9), 1),
            },
        )
        settled_before, at_before = settled, now


def _settled_at(samples: list[tuple[float, int, int]], at: float) -> float:
    """Rows settled at time `at`, interpolated between the samples around it."""
    if at <= samples[0][0]:
        return float(samples[0][1])
    for (t0, s0, _), (t1, s1, _) in itertools.pairwise(samples):
        if t0 <= at <= t1:
            return s0 + (s1 - s0) * (at - t0) / (t1 - t0) if t1 > t0 else float(s1)
    return float(samples[-1][1])


def boundary_rates(
    samples: list[tuple[float, int, int]], rows: int, window: float = BOUNDARY_WINDOW
) -> tuple[float | None, list[float]]:
    """The steady rate (rows/s between 5% and 95% of the rows, away from any continue-as-new) and
    the rate in `window` seconds either side of each continue-as-new boundary within that span.

    A boundary nearer than `window` to the 5% or 95% marks is left out, like the steady rate's
    ends: its window would count the import's start-up or its last rows draining (a run that
    continued as new 1 s before the import ended measured 0.65 of the steady rate that way).
    """
    if len(samples) < 2:
        return None, []
    boundaries = [
        (t0 + t1) / 2 for (t0, _, r0), (t1, _, r1) in itertools.pairwise(samples) if r1 > r0
    ]
    low = next((t for t, s, _ in samples if s >= 0.05 * rows), samples[0][0])
    high = next((t for t, s, _ in samples if s >= 0.95 * rows), samples[-1][0])
    steady_rows = steady_seconds = 0.0
    for (t0, s0, _), (t1, s1, _) in itertools.pairwise(samples):
        if t0 < low or t1 > high or any(b - window < t1 and t0 < b + window for b in boundaries):
            continue
        steady_rows += s1 - s0
        steady_seconds += t1 - t0
    steady = steady_rows / steady_seconds if steady_seconds else None
    around = [
        (_settled_at(samples, b + window) - _settled_at(samples, b - window)) / (2 * window)
        for b in boundaries
        if low <= b - window and b + window <= high
    ]
    return steady, around


async def run(
    client: Client, *, rows: int, history_limit: int, progress_every: float
) -> HistoryOutcome:
    queue = f"bench-history-{uuid.uuid4().hex[:8]}"
    data = BulkImportInput(
        import_id=uuid.uuid4(), partner_id=uuid.uuid4(), history_limit=history_limit
    )
    outcome = HistoryOutcome(rows=rows, defaults=data)
    log.info(
        "history bench: starting",
        extra={
            "rows": rows,
            "window": data.window,
            "batch_size": data.batch_size,
            "history_limit": data.history_limit,
        },
    )
    async with Worker(
        client,
        task_queue=queue,
        workflows=[BulkImportWorkflow, ReadyAtOnce],
        activities=[make_prepare(rows), record_status, settled_rows, start_onboardings],
        # Unsandboxed: the sandbox costs time per workflow task, not events in the history.
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        started = time.monotonic()
        handle = await client.start_workflow(
            BulkImportWorkflow.run, data, id=f"import-{data.import_id}", task_queue=queue
        )
        result = asyncio.create_task(handle.result())
        samples: list[tuple[float, int, int]] = []
        await _follow(client, handle.id, result, progress_every, samples)
        progress = await result
        outcome.seconds = time.monotonic() - started
        outcome.progress = progress.model_dump(mode="json")
        outcome.steady_rate, outcome.boundary_rates = boundary_rates(samples, rows)
        outcome.lengths = await history_lengths(
            client, handle.id, handle.first_execution_run_id or ""
        )
    log.info("history bench: done", extra={"events_per_run": outcome.lengths})
    return outcome
