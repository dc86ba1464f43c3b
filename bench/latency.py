"""The latency benchmark: POST /v1/onboardings against a bare `client.start_workflow`.

Issue 12's target: POST p50 at most 3x the bare start's p50, on the same Temporal server. The API
runs as `onboarding api` in a process of its own (as deployed), the workers in theirs; the bare
start is made from this process with the project's client (same data converter and codec). Each
is measured sequentially (one at a time: the path's own cost) and at concurrency 20 (what a
partner's batch script does), the kinds alternated so that the machine's load weighs on both.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.bare import BareActivities, BareInput
from bench.processes import wait_worker_polling
from bench.procstack import onboarding_body, process_stack, quantile
from bench.report import Figure

log = logging.getLogger(__name__)

TARGET_RATIO = 3.0
CONCURRENCY = 20


@dataclass
class LatencyOutcome:
    count: int
    # "post|start" + "sequential|concurrent" -> seconds per call
    samples: dict[str, list[float]] = field(default_factory=dict)

    def q(self, key: str, at: float) -> float | None:
        value = quantile(self.samples.get(key, []), at)
        return value * 1000 if value is not None else None

    def figures(self) -> list[Figure]:
        figures: list[Figure] = []
        for mode in ("sequential", "concurrent"):
            label = "sequential" if mode == "sequential" else f"concurrency {CONCURRENCY}"
            post50, start50 = self.q(f"post {mode}", 0.5), self.q(f"start {mode}", 0.5)
            figures += [
                Figure("latency", f"POST p50, {label}", post50, "ms", "", None),
                Figure(
                    "latency", f"POST p99, {label}", self.q(f"post {mode}", 0.99), "ms", "", None
                ),
                Figure("latency", f"start_workflow p50, {label}", start50, "ms", "", None),
                Figure(
                    "latency",
                    f"start_workflow p99, {label}",
                    self.q(f"start {mode}", 0.99),
                    "ms",
                    "",
                    None,
                ),
            ]
            ratio = post50 / start50 if post50 and start50 else None
            figures.append(
                Figure(
                    "latency",
                    f"POST p50 / start p50, {label}",
                    ratio,
                    "x",
                    f"<= {TARGET_RATIO:.0f}" if mode == "sequential" else "",
                    (ratio is not None and ratio <= TARGET_RATIO) if mode == "sequential" else None,
                )
            )
        return figures

    def details(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "concurrency": CONCURRENCY,
            "ms": {
                key: {
                    "p50": self.q(key, 0.5),
                    "p90": self.q(key, 0.9),
                    "p99": self.q(key, 0.99),
                    "n": len(values),
                }
                for key, values in self.samples.items()
            },
        }


async def _timed(call: Callable[[], Awaitable[None]], count: int, concurrency: int) -> list[float]:
    slots = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one() -> None:
        async with slots:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one() for _ in range(count)))
    return latencies


async def run(env: WorkflowEnvironment, *, count: int) -> LatencyOutcome:
    outcome = LatencyOutcome(count=count)
    async with process_stack(env) as stack:
        bare_queue = f"{stack.settings.task_queue}-bare"
        worker = stack.processes.worker("all")
        bare = stack.processes.start(
            "bare-worker", [sys.executable, "-m", "bench.bare_worker", "--task-queue", bare_queue]
        )
        url, _ = await stack.api()
        await wait_worker_polling(worker)
        await wait_worker_polling(bare)
        client: Client = stack.client
        index = 0

        async with httpx.AsyncClient(base_url=url, headers=stack.headers(), timeout=60) as http:

            async def post() -> None:
                nonlocal index
                index += 1
                response = await http.post(
                    "/v1/onboardings",
                    json=onboarding_body(index),
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                )
                if response.status_code != 202:
                    raise RuntimeError(f"POST refused: {response.status_code}")

            async def start() -> None:
                await client.start_workflow(
                    BareActivities.run,
                    BareInput(activities=1),
                    id=f"bench-bare-{uuid.uuid4().hex}",
                    task_queue=bare_queue,
                )

            # Warm-up, not counted: connections, the API's first request, caches.
            await _timed(post, 5, 1)
            await _timed(start, 5, 1)
            half = max(1, count // 2)
            for mode, concurrency in (("sequential", 1), ("concurrent", CONCURRENCY)):
                for _ in range(2):  # two halves each, alternated
                    for kind, call in (("post", post), ("start", start)):
                        samples = await _timed(call, half, concurrency)
                        outcome.samples.setdefault(f"{kind} {mode}", []).extend(samples)
                log.info(
                    "latency bench progress",
                    extra={
                        "mode": mode,
                        "post_p50_ms": round(outcome.q(f"post {mode}", 0.5) or 0, 1),
                        "start_p50_ms": round(outcome.q(f"start {mode}", 0.5) or 0, 1),
                    },
                )
    return outcome
