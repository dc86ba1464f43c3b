"""The throughput benchmark: onboardings to READY against bare workflows, on the same server.

Issue 12's target: onboarding -> READY at 2.0x or more the rate of a bare workflow with the same
number of remote activities. Three kinds of batch, alternated round by round so that whatever else
loads the machine weighs on each alike:
- `onboarding`: N onboardings through POST /v1/onboardings (no SIRET: no registry; manual
  invitation: READY is where they stop), run by one `onboarding worker` process;
- `bare-N`: N bare workflows of as many remote no-op activities as one onboarding ran (counted
  in its history: scheduled activities and local-activity markers alike);
- `bare-1`: N bare workflows of one remote activity (Temporal's floor on this server),
  the bare ones started with `client.start_workflow` and run by a `python -m bench.bare` process.
Each rate is workflows per second from the first start to the last READY (or result).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.bare import BareActivities, BareInput
from bench.processes import wait_worker_polling
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
    complete: bool = True

    def rate(self, kind: str) -> float | None:
        done = self.batches.get(kind, [])
        seconds = sum(s for _, s in done)
        return sum(n for n, _ in done) / seconds if seconds else None

    def figures(self) -> list[Figure]:
        onboarding, bare_n, bare_1 = (self.rate(k) for k in ("onboarding", "bare-N", "bare-1"))
        n = self.activities.get("remote", 0) + self.activities.get("local", 0)
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
                "onboarding / bare 1 activity",
                onboarding / bare_1 if onboarding and bare_1 else None,
                "x",
                "",
                None,
            ),
        ]

    def details(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "rounds": self.rounds,
            "activities": self.activities,
            "batches": {k: [[n, round(s, 3)] for n, s in v] for k, v in self.batches.items()},
            "rates": {k: self.rate(k) for k in self.batches},
        }


async def count_activities(client: Client, workflow_id: str) -> dict[str, int]:
    """The activities a workflow ran to READY: remote ones scheduled and local ones recorded."""
    return activities_to_ready(
        [event async for event in client.get_workflow_handle(workflow_id).fetch_history_events()]
    )


def activities_to_ready(events: Sequence[HistoryEvent]) -> dict[str, int]:
    """Remote activities scheduled and local-activity markers, up to the step that records READY
    (`complete_setup`). Patch markers are markers too, but no activity; and what the onboarding
    does after READY (its invitation) is not what the bare workflow stands in for, and may or may
    not be in the history yet when it is read: counting either made N vary between 7 and 9."""
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
            break
    return counts


async def _onboardings(
    stack: ProcessStack, http: httpx.AsyncClient, count: int, offset: int
) -> tuple[int, float, list[str]]:
    started = time.monotonic()
    ids, _ = await post_onboardings(
        http, (onboarding_body(offset + i) for i in range(count)), concurrency=CONCURRENCY
    )
    ready = await wait_statuses(stack.pool, ids, ("READY",), within=60 + count)
    return ready, time.monotonic() - started, ids


async def _bare(client: Client, queue: str, count: int, activities: int) -> tuple[int, float]:
    slots = asyncio.Semaphore(CONCURRENCY)
    started = time.monotonic()

    async def one() -> int:
        async with slots:
            handle = await client.start_workflow(
                BareActivities.run,
                BareInput(activities=activities),
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
        url, _ = await stack.api()
        await wait_worker_polling(worker)
        await wait_worker_polling(bare)
        async with httpx.AsyncClient(base_url=url, headers=stack.headers(), timeout=60) as http:
            # One onboarding first: it warms the worker up and says how many activities it runs.
            ready, _, ids = await _onboardings(stack, http, 1, offset=0)
            if not ready:
                raise RuntimeError("the warm-up onboarding never reached READY")
            outcome.activities = await count_activities(stack.client, f"onboarding-{ids[0]}")
            steps = outcome.activities["remote"] + outcome.activities["local"]
            await _bare(stack.client, bare_queue, 1, steps)
            log.info("throughput bench: ready", extra={"activities": outcome.activities})
            offset = 1
            for number, n in enumerate(per_round, start=1):
                for kind in ("onboarding", "bare-N", "bare-1"):
                    if kind == "onboarding":
                        done, seconds, _ = await _onboardings(stack, http, n, offset)
                        offset += n
                    else:
                        done, seconds = await _bare(
                            stack.client, bare_queue, n, steps if kind == "bare-N" else 1
                        )
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
    return outcome
