"""The throughput bench's yardsticks and meter: the bare workflow of the onboarding's shape runs the
activities it says, counted as the bench counts an onboarding's; the CPU meter counts a process
tree, the children that already ended included."""

from __future__ import annotations

import subprocess
import sys
import uuid

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.bare import BareActivities, BareInput, noop
from bench.processes import CpuMeter, tree_cpu_seconds
from bench.throughput import LOCAL_ACTIVITY_MARKER
from worker.main import WORKFLOW_RUNNER


async def test_bare_shape_runs_its_local_then_remote_no_ops(
    temporal_env: WorkflowEnvironment,
) -> None:
    queue = f"bare-{uuid.uuid4().hex[:8]}"
    async with Worker(
        temporal_env.client,
        task_queue=queue,
        workflows=[BareActivities],
        activities=[noop],
        workflow_runner=WORKFLOW_RUNNER,
    ):
        handle = await temporal_env.client.start_workflow(
            BareActivities.run,
            BareInput(activities=1, local_activities=4),
            id=f"bench-bare-{uuid.uuid4().hex}",
            task_queue=queue,
        )
        assert await handle.result() == 5
        events = [e async for e in handle.fetch_history_events()]
    kinds = [
        "local"
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
        else "remote"
        for e in events
        if e.HasField("marker_recorded_event_attributes")
        or e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert kinds == ["local"] * 4 + ["remote"]


def test_cpu_meter_counts_a_tree_and_its_ended_children() -> None:
    """A parent whose child burnt CPU and exited: the child's CPU is in the parent's tree."""
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    parent = subprocess.Popen(  # our own interpreter
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            f"subprocess.run([sys.executable, '-c', {burn!r}], check=True)\n"
            "print('ready', flush=True)\n"
            "time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        meter = CpuMeter({"tree": [parent.pid]})
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == b"ready"
        spent = meter.read()["tree"]
        assert spent >= 0.3  # the child's 0.3 s, reaped into the parent's figures
        assert tree_cpu_seconds(parent.pid) >= spent  # CPU only grows
        assert CpuMeter.spent({"tree": 1.0}, {"tree": 1.5}) == {"tree": 0.5}
    finally:
        parent.kill()
        parent.wait(10)
    assert tree_cpu_seconds(parent.pid) == 0.0  # gone
