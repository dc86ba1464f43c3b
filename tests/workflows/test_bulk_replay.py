"""Determinism of BulkImportWorkflow: recorded runs replay against today's code.

Imports run for hours, across deploys, so a change to the bulk workflow goes behind
`workflow.patched` and its older runs keep a recorded history here:
- bulk_import_v3_starts_by_activity: after the `import-settled-in-db` and
  `import-starts-by-activity` patches (a marker each, the window read from the database by a local
  activity, onboardings started by an activity: no signal, no child event);
- bulk_import_v4_patches_deprecated: the same once both patches are deprecated (their markers
  say so), which is what lets the `deprecate_patch` calls go in their turn.
The runs from before the patches (v1: children signalling `row_settled`; v2: children reporting
in the database) retired with the patches' old branches (workflows/patches.py says when).
Each file holds the first two runs of one import (the second starts with rows carried across
continue-as-new). Recorded by `python -m tests.workflows.test_bulk_replay OUT.json`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.imports_progress import BulkImportInput
from tests.conftest import converter_for_tests
from tests.workflows.test_bulk_import import _runs, bulk_worker
from worker.main import WORKFLOW_RUNNER
from workflows.bulk_import import BulkImportWorkflow
from workflows.patches import SETTLED_IN_DB, STARTS_BY_ACTIVITY

BULK_HISTORIES = Path(__file__).parent.parent / "histories" / "bulk"


def _load(path: Path) -> list[WorkflowHistory]:
    runs: list[dict[str, Any]] = json.loads(path.read_text())
    return [WorkflowHistory.from_json(run["workflow_id"], run["history"]) for run in runs]


def _markers(history: WorkflowHistory) -> list[str]:
    return [
        e.marker_recorded_event_attributes.marker_name
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
    ]


def _signals(history: WorkflowHistory) -> int:
    return sum(e.HasField("workflow_execution_signaled_event_attributes") for e in history.events)


def _children(history: WorkflowHistory) -> int:
    return sum(
        e.HasField("start_child_workflow_execution_initiated_event_attributes")
        for e in history.events
    )


def _patches(history: WorkflowHistory) -> list[bytes]:
    return [
        e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]


@pytest.mark.parametrize("path", sorted(BULK_HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_bulk_history_replays(path: Path) -> None:
    runs = await asyncio.to_thread(_load, path)
    assert len(runs) == 2
    replayer = Replayer(
        workflows=[BulkImportWorkflow],
        data_converter=converter_for_tests(),
        workflow_runner=WORKFLOW_RUNNER,
    )
    for history in runs:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure


async def test_both_kinds_of_bulk_run_are_recorded() -> None:
    """The files above are what they say: both patches' markers, undeprecated then deprecated;
    no signal and no child event in either."""
    v3 = await asyncio.to_thread(_load, BULK_HISTORIES / "bulk_import_v3_starts_by_activity.json")
    v4 = await asyncio.to_thread(_load, BULK_HISTORIES / "bulk_import_v4_patches_deprecated.json")
    for runs, deprecated in ((v3, False), (v4, True)):
        for history in runs:
            assert not _signals(history) and not _children(history)
            assert "core_local_activity" in _markers(history)
            assert sorted(_patches(history)) == sorted(
                json.dumps({"id": patch, "deprecated": deprecated}, separators=(",", ":")).encode()
                for patch in (SETTLED_IN_DB, STARTS_BY_ACTIVITY)
            )


async def record(out: Path) -> None:
    """Run a small import on a dev server and write its first two runs into `out`."""
    from devstack.temporal_server import temporal_cli
    from domain.search_attributes import ALL_KEYS

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=ALL_KEYS,
        data_converter=converter_for_tests(),
        dev_server_extra_args=["--headless"],
    )
    try:
        runs = await _record_runs(env.client)
        await asyncio.to_thread(out.write_text, json.dumps(runs, indent=1))
    finally:
        await env.shutdown()


async def _record_runs(client: Client) -> list[dict[str, Any]]:
    queue = f"bulk-{uuid.uuid4().hex[:8]}"
    async with bulk_worker(client, queue, "steady"):
        handle = await client.start_workflow(
            BulkImportWorkflow.run,
            BulkImportInput(
                import_id=uuid.uuid4(),
                partner_id=uuid.uuid4(),
                window=10,
                batch_size=20,
                history_limit=150,
            ),
            id=f"import-{uuid.uuid4()}",
            task_queue=queue,
        )
        await handle.result()
    runs = await _runs(client, handle.id, handle.result_run_id or "")
    return [{"workflow_id": handle.id, "history": h.to_json_dict()} for _, h in runs[:2]]


if __name__ == "__main__":
    asyncio.run(record(Path(sys.argv[1])))
