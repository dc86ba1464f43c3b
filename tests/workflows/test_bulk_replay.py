"""Determinism of BulkImportWorkflow: recorded runs replay against today's code.

Imports run for hours, across deploys, so a change to the bulk workflow goes behind
`workflow.patched` and its older runs keep a recorded history here:
- bulk_import_v3_starts_by_activity: after the `import-starts-by-activity` patch (onboardings
  started by an activity as workflows of their own: no child event in the import's history), with
  both import patches' markers; it replays against today's code, which deprecated both patches.
- retired/: the shapes of runs begun before those patches, whose branches the deprecation deleted:
  bulk_import_v1_signals (recorded at 0acc597, children signal `row_settled`) and
  bulk_import_v2_settled_in_db (recorded at a09c1b7, the window read from the database but
  onboardings still children). They must NOT replay any more: that is why a deploy waits for
  `onboarding patches --check` (no open run begun before a deprecated patch).
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
from tests.factories import converter_for_tests
from tests.workflow_helpers import _runs, bulk_worker
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
    replayer = _replayer()
    for history in runs:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure


def _replayer() -> Replayer:
    return Replayer(
        workflows=[BulkImportWorkflow],
        data_converter=converter_for_tests(),
        workflow_runner=WORKFLOW_RUNNER,
    )


@pytest.mark.parametrize(
    "path", sorted((BULK_HISTORIES / "retired").glob("*.json")), ids=lambda p: p.stem
)
async def test_a_run_begun_before_the_deprecated_import_patches_no_longer_replays(
    path: Path,
) -> None:
    """The deprecation really deleted the old branches: a pre-patch run fails its replay (so
    the deploy gate, not luck, is what keeps such runs from meeting this code)."""
    runs = await asyncio.to_thread(_load, path)
    result = await _replayer().replay_workflow(runs[0], raise_on_replay_failure=False)
    assert result.replay_failure is not None


async def test_every_kind_of_bulk_run_is_recorded() -> None:
    """The files above are what they say: one from before each patch, one after the last."""
    retired = BULK_HISTORIES / "retired"
    v1 = await asyncio.to_thread(_load, retired / "bulk_import_v1_signals.json")
    v2 = await asyncio.to_thread(_load, retired / "bulk_import_v2_settled_in_db.json")
    v3 = await asyncio.to_thread(_load, BULK_HISTORIES / "bulk_import_v3_starts_by_activity.json")
    assert all(_signals(h) > 0 and not _markers(h) and _children(h) for h in v1)
    for history in v2 + v3:
        assert not _signals(history)
        assert "core_local_activity" in _markers(history)
    for history in v2:
        assert _children(history)
        assert any(SETTLED_IN_DB.encode() in p for p in _patches(history))
        assert not any(STARTS_BY_ACTIVITY.encode() in p for p in _patches(history))
    for history in v3:
        assert not _children(history)
        assert any(STARTS_BY_ACTIVITY.encode() in p for p in _patches(history))


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
