"""Bare workflows, the yardsticks of the throughput and latency benchmarks, and their worker.

`BareActivities` runs `count` remote no-op activities one after the other (after as many local
ones as asked), as an onboarding runs its steps: what Temporal itself costs per step on this
server, with nothing of ours in between. They run on a task queue of their own, in a worker
process of their own (`python -m bench.bare_worker`), so the onboardings' worker and theirs are
alike: one process each, the same sandboxed runner.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy


class BareInput(BaseModel):
    activities: int
    # Local no-op activities run before the remote ones: the shape of a workflow whose short
    # steps are local (what an onboarding runs to READY), with nothing of ours in its steps.
    local_activities: int = 0


class NoopInput(BaseModel):
    step: int


@activity.defn(name="bench_noop")
async def noop(data: NoopInput) -> int:
    return data.step


@workflow.defn(name="BenchBareActivities")
class BareActivities:
    """`activities` remote no-op activities in sequence (one is the smallest useful workflow),
    after `local_activities` local ones."""

    @workflow.run
    async def run(self, data: BareInput) -> int:
        done = 0
        steps = [True] * data.local_activities + [False] * data.activities
        for local in steps:
            execute = workflow.execute_local_activity if local else workflow.execute_activity
            done += 1 + await execute(
                noop,
                NoopInput(step=0),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        return done
