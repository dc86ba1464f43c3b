"""The throughput benchmark: onboardings to READY against bare workflows, on the same server.

Issue 12's target: onboarding -> READY at 2.0x or more the rate of a bare workflow with the same
number of remote activities. Three kinds of batch, alternated round by round so that whatever else
loads the machine weighs on each alike:
- `onboarding`: N onboardings through POST /v1/onboardings (no SIRET: no registry; manual
  invitation: READY is where they stop), run by one `onboarding worker` process;
- `bare-N`: N bare workflows of as many remote no-op activities as one onboarding ran (counted
  in its history: scheduled activities and local-activity markers alike);
- `bare-shape`: N bare workflows of the onboarding's shape, its local steps as local no-ops and
  its remote ones as remote no-ops: what Temporal's share of the onboarding's shape costs, with
  none of the steps' own work (PostgreSQL, the HTTP API, the payloads);
- `bare-1`: N bare workflows of one remote activity (Temporal's floor on this server),
  the bare ones started with `client.start_workflow` and run by a `python -m bench.bare` process.
Each rate is workflows per second from the first start to the last READY (or result). The CPU
each batch used is read from /proc per process (worker, bare worker, API, Temporal, PostgreSQL,
this process) and reported per workflow: on a machine where they all share the cores, that is
what bounds the rates.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.bare import BareActivities, BareInput
from bench.processes import CpuMeter, descendants, postmasters, wait_worker_polling
from bench.procstack import (
    ProcessStack,
    onboarding_body,
    post_onboardings,
    process_stack,
    wait_statuses,
)
from bench.report import Figure

log = logging.getLogger(__name__)

TARGET_SPEEDUP = 2.0
LOCAL_ACTIVITY_MARKER = "core_local_activity"
# The onboarding's step that records READY.
READY_STEP = "complete_setup"
CONCURRENCY = 20


@dataclass
class ThroughputOutcome:
    count: int
    rounds: int
    activities: dict[str, int] = field(default_factory=dict)
    # kind -> [(workflows, seconds)] per round
    batches: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    # kind -> process group -> CPU seconds over all its batches
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    complete: bool = True

    def cpu_per_workflow(self, kind: str) -> dict[str, float]:
        """Milliseconds of CPU per workflow of `kind`, per process group."""
        workflows = sum(n for n, _ in self.batches.get(kind, []))
        spent = self.cpu.get(kind, {})
        return {g: 1000 * s / workflows for g, s in spent.items()} if workflows else {}

    def cpu_total(self, kind: str) -> float | None:
        per = self.cpu_per_workflow(kind)
        return sum(per.values()) if per else None

    def rate(self, kind: str) -> float | None:
        done = self.batches.get(kind, [])
        seconds = sum(s for _, s in done)
        return sum(n for n, _ in done) / seconds if seconds else None

    def figures(self) -> list[Figure]:
        onboarding, bare_n, bare_shape, bare_1 = (
            self.rate(k) for k in ("onboarding", "bare-N", "bare-shape", "bare-1")
        )
        remote, local = self.activities.get("remote", 0), self.activities.get("local", 0)
        n = remote + local
        ratio = onboarding / bare_n if onboarding and bare_n else None
        return [
            Figure(
                "throughput",
                "every workflow reached its end",
                int(self.complete),
                "",
                "= 1",
                self.complete,
            ),
            Figure(
                "throughput",
                "onboarding activities (remote)",
                self.activities.get("remote"),
                "",
                "",
                None,
            ),
            Figure(
                "throughput",
                "onboarding activities (local)",
                self.activities.get("local"),
                "",
                "",
                None,
            ),
            Figure(
                "throughput", f"onboarding -> READY (x{self.count})", onboarding, "wf/s", "", None
            ),
            Figure("throughput", f"bare, {n} remote activities", bare_n, "wf/s", "", None),
            Figure(
                "throughput",
                f"bare, onboarding's shape ({remote} remote + {local} local)",
                bare_shape,
                "wf/s",
                "",
                None,
            ),
            Figure("throughput", "bare, 1 remote activity", bare_1, "wf/s", "", None),
            Figure(
                "throughput",
                "onboarding / bare same activities",
                ratio,
                "x",
                f">= {TARGET_SPEEDUP:.1f}",
                ratio is not None and ratio >= TARGET_SPEEDUP,
            ),
            Figure(
                "throughput",
                "bare shape / bare same activities",
                bare_shape / bare_n if bare_shape and bare_n else None,
                "x",
                "",
                None,
            ),
            Figure(
                "throughput",
                "onboarding / bare 1 activity",
                onboarding / bare_1 if onboarding and bare_1 else None,
                "x",
                "",
                None,
            ),
            *(
                Figure(
                    "throughput", f"CPU per workflow: {kind}", self.cpu_total(kind), "ms", "", None
                )
                for kind in ("onboarding", "bare-N", "bare-shape", "bare-1")
            ),
        ]

    def details(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "rounds": self.rounds,
            "activities": self.activities,
            "batches": {k: [[n, round(s, 3)] for n, s in v] for k, v in self.batches.items()},
            "rates": {k: self.rate(k) for k in self.batches},
            "cpu_ms_per_workflow": {
                k: {g: round(ms, 2) for g, ms in self.cpu_per_workflow(k).items()}
                for k in self.batches
            },
        }


async def count_activities(
    client: Client, workflow_id: str, *, within: float = 30
) -> dict[str, int]:
    """The activities a workflow ran to READY: remote ones scheduled and local ones recorded.

    READY is in PostgreSQL as soon as `complete_setup` ran, but its marker reaches the history
    only when the workflow task that ran it completes, maybe after more local steps: the history
    is read again until the marker is in it."""
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + within
    while True:
        counts = activities_to_ready([event async for event in handle.fetch_history_events()])
        if counts is not None:
            return counts
        if time.monotonic() > deadline:
            raise RuntimeError(f"{READY_STEP} never reached the history of {workflow_id}")
        await asyncio.sleep(0.2)


def activities_to_ready(events: Sequence[HistoryEvent]) -> dict[str, int] | None:
    """Remote activities scheduled and local-activity markers, up to the step that records READY
    (`complete_setup`). Patch markers are markers too, but no activity; and what the onboarding
    does after READY (its invitation) is not what the bare workflow stands in for, and may or may
    not be in the history yet when it is read: counting either made N vary between 7 and 9.
    None while the step that records READY is not in the history yet."""
    counts = {"remote": 0, "local": 0}
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            counts["remote"] += 1
            activity_type = event.activity_task_scheduled_event_attributes.activity_type.name
        elif (
            event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
        ):
            counts["local"] += 1
            data = event.marker_recorded_event_attributes.details["data"].payloads[0].data
            activity_type = json.loads(data).get("activity_type", "")
        else:
            continue
        if activity_type == READY_STEP:
            return counts
    return None


async def _onboardings(
    stack: ProcessStack, http: httpx.AsyncClient, count: int, offset: int
) -> tuple[int, float, list[str]]:
    started = time.monotonic()
    ids, _ = await post_onboardings(
        http, (onboarding_body(offset + i) for i in range(count)), concurrency=CONCURRENCY
    )
    ready = await wait_statuses(stack.pool, ids, ("READY",), within=60 + count)
    return ready, time.monotonic() - started, ids


async def _bare(
    client: Client, queue: str, count: int, activities: int, local_activities: int = 0
) -> tuple[int, float]:
    slots = asyncio.Semaphore(CONCURRENCY)
    started = time.monotonic()

    async def one() -> int:
        async with slots:
            handle = await client.start_workflow(
                BareActivities.run,
                BareInput(activities=activities, local_activities=local_activities),
                id=f"bench-bare-{uuid.uuid4().hex}",
                task_queue=queue,
            )
        return await handle.result()

    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    done = sum(1 for r in results if isinstance(r, int))
    return done, time.monotonic() - started


async def run(env: WorkflowEnvironment, *, count: int, rounds: int) -> ThroughputOutcome:
    outcome = ThroughputOutcome(count=count, rounds=rounds)
    per_round = [count // rounds + (1 if r < count % rounds else 0) for r in range(rounds)]
    async with process_stack(env) as stack:
        bare_queue = f"{stack.settings.task_queue}-bare"
        worker = stack.processes.worker("all")
        bare = stack.processes.start(
            "bare-worker", [sys.executable, "-m", "bench.bare_worker", "--task-queue", bare_queue]
        )
        url, api_pid = await stack.api()
        await wait_worker_polling(worker)
        await wait_worker_polling(bare)
        meter = CpuMeter(
            {
                "onboarding worker": [worker.pid],
                "bare worker": [bare.pid],
                "API": [api_pid],
                "Temporal": _temporal_servers(),
                "PostgreSQL": postmasters(),
            }
        )
        async with httpx.AsyncClient(base_url=url, headers=stack.headers(), timeout=60) as http:
            # One onboarding first: it warms the worker up and says how many activities it runs.
            ready, _, ids = await _onboardings(stack, http, 1, offset=0)
            if not ready:
                raise RuntimeError("the warm-up onboarding never reached READY")
            outcome.activities = await count_activities(stack.client, f"onboarding-{ids[0]}")
            remote, local = outcome.activities["remote"], outcome.activities["local"]
            steps = remote + local
            await _bare(stack.client, bare_queue, 1, steps)
            log.info("throughput bench: ready", extra={"activities": outcome.activities})
            offset = 1
            for number, n in enumerate(per_round, start=1):
                for kind in ("onboarding", "bare-N", "bare-shape", "bare-1"):
                    before, own = meter.read(), time.process_time()
                    if kind == "onboarding":
                        done, seconds, _ = await _onboardings(stack, http, n, offset)
                        offset += n
                    elif kind == "bare-shape":
                        done, seconds = await _bare(stack.client, bare_queue, n, remote, local)
                    else:
                        done, seconds = await _bare(
                            stack.client, bare_queue, n, steps if kind == "bare-N" else 1
                        )
                    spent = {
                        **meter.spent(before, meter.read()),
                        "bench": time.process_time() - own,
                    }
                    used = outcome.cpu.setdefault(kind, {})
                    for group, seconds_used in spent.items():
                        used[group] = used.get(group, 0.0) + seconds_used
                    outcome.complete &= done == n
                    outcome.batches.setdefault(kind, []).append((done, seconds))
                    log.info(
                        "throughput bench progress",
                        extra={
                            "round": number,
                            "kind": kind,
                            "done": f"{done}/{n}",
                            "rate": f"{done / seconds:.2f}/s",
                        },
                    )
    for kind in outcome.batches:
        log.info(
            "throughput bench: CPU per workflow (ms)",
            extra={
                "kind": kind,
                **{g: f"{ms:.1f}" for g, ms in outcome.cpu_per_workflow(kind).items()},
            },
        )
    return outcome


def _temporal_servers() -> list[int]:
    """The Temporal dev server(s) this benchmark started (descendants running the CLI)."""
    found = []
    for pid in descendants(os.getpid()):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"start-dev" in argv and b"server" in argv:
            found.append(pid)
    return found
