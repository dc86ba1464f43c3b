"""Determinism of FiscalYearWorkflow: recorded runs replay against today's code.

A change to the workflow that alters its history (a new activity before the folders, a reordered
record) fails here first, and goes behind `workflow.patched`. tests/histories/fiscal_year holds:
- fiscal_year_v1_done: the folder activity fails once (a lost connection), is retried, succeeds;
- fiscal_year_v1_failed: the folder tree is missing, so the run records the failure and fails.
Recorded with activities faked under their real names, by
`python -m tests.workflows.test_fiscal_year_replay DIR`, once, and kept: a history the code
under test has just produced would replay whatever that code does, so none is replayed here.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, Worker

from activities.fiscal_years import RecordFoldersStateInput, RecordFoldersStateResult
from activities.folders import CreateFoldersInput, CreateFoldersResult
from domain.fiscal_calendar import FiscalYear
from domain.fiscal_years import FiscalYearInput, FoldersState, workflow_id_for
from tests.factories import converter_for_tests
from worker.main import WORKFLOW_RUNNER
from workflows.fiscal_years import FiscalYearWorkflow

HISTORIES = Path(__file__).parent.parent / "histories" / "fiscal_year"


@activity.defn(name="create_folders")
async def _folders_after_one_lost_connection(data: CreateFoldersInput) -> CreateFoldersResult:
    attempt = activity.info().attempt
    if attempt == 1:
        raise ApplicationError("connection lost", type="ConnectionResetError")
    return CreateFoldersResult(folders_planned=16, folders_created=12, months=12, attempt=attempt)


@activity.defn(name="create_folders")
async def _folders_tree_missing(data: CreateFoldersInput) -> CreateFoldersResult:
    raise ApplicationError("folder tree is missing", type="FolderTreeMissing", non_retryable=True)


@activity.defn(name="record_fiscal_year_folders")
async def _record(data: RecordFoldersStateInput) -> RecordFoldersStateResult:
    return RecordFoldersStateResult(recorded=True)


def _replayer() -> Replayer:
    return Replayer(
        workflows=[FiscalYearWorkflow],
        data_converter=converter_for_tests(),
        workflow_runner=WORKFLOW_RUNNER,
    )


async def _run(client: Client, *, fails: bool) -> WorkflowHistory:
    """One run with faked activities: done after a retry, or failed for a missing tree."""
    queue = f"fiscal-replay-{uuid.uuid4().hex[:8]}"
    client_id = uuid.uuid4()
    year = FiscalYear(start=date(2026, 1, 1), end=date(2026, 12, 31))
    folders_activity = _folders_tree_missing if fails else _folders_after_one_lost_connection
    async with Worker(
        client,
        task_queue=queue,
        workflows=[FiscalYearWorkflow],
        activities=[folders_activity, _record],
        workflow_runner=WORKFLOW_RUNNER,
    ):
        handle = await client.start_workflow(
            FiscalYearWorkflow.run,
            FiscalYearInput(
                client_id=client_id,
                partner_id=uuid.uuid4(),
                folder_tree="ged",
                fiscal_year=year,
                language="fr",
            ),
            id=workflow_id_for(client_id, year.start),
            task_queue=queue,
        )
        if fails:
            with pytest.raises(WorkflowFailureError):
                await handle.result()
        else:
            assert (await handle.result()).state == FoldersState.done
        return await handle.fetch_history()


def _activities(history: WorkflowHistory) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_fiscal_year_history_replays(path: Path) -> None:
    """Each committed history replays without a non-determinism error."""
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_both_endings_are_recorded() -> None:
    """The files are what they say: record, folders, record; the done one retried its folders."""
    names = {p.stem for p in HISTORIES.glob("*.json")}
    assert names == {"fiscal_year_v1_done", "fiscal_year_v1_failed"}
    for name in names:
        path = HISTORIES / f"{name}.json"
        history = WorkflowHistory.from_json(name, await asyncio.to_thread(path.read_text))
        assert _activities(history) == [
            "record_fiscal_year_folders",
            "create_folders",
            "record_fiscal_year_folders",
        ]
        failed = any(
            e.HasField("workflow_execution_failed_event_attributes") for e in history.events
        )
        assert failed == name.endswith("failed")


async def record(directory: Path) -> None:
    """Record both histories into `directory` (after a deliberate, patched workflow change)."""
    from temporalio.testing import WorkflowEnvironment

    from devstack.temporal_server import temporal_cli

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        data_converter=converter_for_tests(),
        dev_server_extra_args=["--headless"],
    )
    try:
        for fails, name in ((False, "fiscal_year_v1_done"), (True, "fiscal_year_v1_failed")):
            history = await _run(env.client, fails=fails)
            await asyncio.to_thread((directory / f"{name}.json").write_text, history.to_json())
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record(Path(sys.argv[1])))
