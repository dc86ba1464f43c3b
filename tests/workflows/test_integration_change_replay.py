"""Determinism of IntegrationChangeWorkflow: recorded runs replay against today's code.

A change to the workflow that alters its history (another activity, a reordered record) fails
here first, and goes behind `workflow.patched`. tests/histories/integration_change holds:
- integration_change_v1_added: the connect activity fails once (the app answered 503), is
  retried, connects; the change is recorded done;
- integration_change_v1_failed: the app refuses the settings, so the failure is recorded on the
  client's app and the change;
- integration_change_v1_removed: the disconnect activity ends the connection; recorded done.
Recorded with activities faked under their real names, by
`python -m tests.workflows.test_integration_change_replay DIR`.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, Worker

from activities.integrations import (
    ConnectIntegrationInput,
    ConnectIntegrationResult,
    DisconnectIntegrationInput,
    DisconnectIntegrationResult,
    FinishIntegrationChangeInput,
    RecordIntegrationFailureInput,
)
from domain.integrations import (
    ChangeState,
    IntegrationAction,
    IntegrationChangeInput,
    workflow_id_for,
)
from domain.setup import SECRET_MASK, EffectiveIntegration, IntegrationKind
from tests.factories import converter_for_tests
from worker.main import WORKFLOW_RUNNER
from workflows.integrations import IntegrationChangeWorkflow

HISTORIES = Path(__file__).parent.parent / "histories" / "integration_change"
RUNS = {
    "integration_change_v1_added": (IntegrationAction.add, ChangeState.done),
    "integration_change_v1_failed": (IntegrationAction.add, ChangeState.failed),
    "integration_change_v1_removed": (IntegrationAction.remove, ChangeState.done),
}


@activity.defn(name="connect_integration")
async def _connect_after_one_503(data: ConnectIntegrationInput) -> ConnectIntegrationResult:
    attempt = activity.info().attempt
    if attempt == 1:
        raise ApplicationError("integration 'crm' answered 503", type="IntegrationUnavailable")
    return ConnectIntegrationResult(
        code=data.integration.code, state="connected", external_ref="conn_1", attempt=attempt
    )


@activity.defn(name="connect_integration")
async def _connect_refused(data: ConnectIntegrationInput) -> ConnectIntegrationResult:
    raise ApplicationError(
        "integration 'crm' refused the connection (answered 422)",
        type="IntegrationRejected",
        non_retryable=True,
    )


@activity.defn(name="disconnect_integration")
async def _disconnect(data: DisconnectIntegrationInput) -> DisconnectIntegrationResult:
    return DisconnectIntegrationResult(code=data.code, state="removed", attempt=1)


@activity.defn(name="record_integration_failure")
async def _record_failure(data: RecordIntegrationFailureInput) -> None:
    return None


@activity.defn(name="finish_integration_change")
async def _finish(data: FinishIntegrationChangeInput) -> None:
    return None


def _replayer() -> Replayer:
    return Replayer(
        workflows=[IntegrationChangeWorkflow],
        data_converter=converter_for_tests(),
        workflow_runner=WORKFLOW_RUNNER,
    )


async def _run(client: Client, name: str) -> WorkflowHistory:
    """One run of `name`'s story with faked activities."""
    action, expected = RUNS[name]
    queue = f"integration-replay-{uuid.uuid4().hex[:8]}"
    connect = _connect_refused if expected == ChangeState.failed else _connect_after_one_503
    client_id, change_id = uuid.uuid4(), uuid.uuid4()
    async with Worker(
        client,
        task_queue=queue,
        workflows=[IntegrationChangeWorkflow],
        activities=[connect, _disconnect, _record_failure, _finish],
        workflow_runner=WORKFLOW_RUNNER,
    ):
        view = await client.execute_workflow(
            IntegrationChangeWorkflow.run,
            IntegrationChangeInput(
                change_id=change_id,
                client_id=client_id,
                partner_id=uuid.uuid4(),
                onboarding_id=uuid.uuid4(),
                action=action,
                integration=EffectiveIntegration(
                    code="crm",
                    kind=IntegrationKind.automation,
                    settings={"region": "eu", "token": SECRET_MASK},
                ),
            ),
            id=workflow_id_for(client_id, "crm", change_id),
            task_queue=queue,
        )
        assert view.state == expected
        handle = client.get_workflow_handle(workflow_id_for(client_id, "crm", change_id))
        return await handle.fetch_history()


def _activities(history: WorkflowHistory) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_integration_change_history_replays(path: Path) -> None:
    """Each committed history replays without a non-determinism error."""
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_every_ending_is_recorded() -> None:
    """The files are what they say: the change's activity, then its bookkeeping."""
    names = {p.stem for p in HISTORIES.glob("*.json")}
    assert names == set(RUNS)
    expected = {
        "integration_change_v1_added": [
            "connect_integration",
            "finish_integration_change",
        ],
        "integration_change_v1_failed": [
            "connect_integration",
            "record_integration_failure",
            "finish_integration_change",
        ],
        "integration_change_v1_removed": [
            "disconnect_integration",
            "finish_integration_change",
        ],
    }
    for name in names:
        path = HISTORIES / f"{name}.json"
        history = WorkflowHistory.from_json(name, await asyncio.to_thread(path.read_text))
        assert _activities(history) == expected[name], name


async def test_fresh_integration_change_histories_replay(client: Client) -> None:
    """Runs made now replay too (the committed files could be stale)."""
    for name in RUNS:
        history = await _run(client, name)
        result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure


async def record(directory: Path) -> None:
    """Record every history into `directory` (after a deliberate, patched workflow change)."""
    from temporalio.testing import WorkflowEnvironment

    from devstack.temporal_server import temporal_cli

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        data_converter=converter_for_tests(),
        dev_server_extra_args=["--headless"],
    )
    try:
        for name in RUNS:
            history = await _run(env.client, name)
            await asyncio.to_thread((directory / f"{name}.json").write_text, history.to_json())
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record(Path(sys.argv[1])))
