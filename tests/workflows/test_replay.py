"""Determinism: recorded workflow histories replay against today's workflow code.

A change that would make running onboardings fail on replay (a new activity call in the middle,
a reordered step) fails here first; such a change goes behind `workflow.patched`. Histories are
recorded by `python -m tests.workflows.test_replay OUT.json` (see `record`), from runs with fake
activities, with the test payload key. onboarding_v1 predates the `local-db-steps` patch and must
keep replaying while such runs may still be open; onboarding_v2_local_db_steps is the patched path;
onboarding_v3_notice_when_someone skips the collaborators' notice of a setup without collaborators
(patch `notice-when-someone`), which v2 still ran for an empty list; onboarding_v4_kbo_lookup is a
Belgian client looked up in the KBO/BCE tables (patch `kbo-lookup`, `... OUT.json belgian`);
onboarding_v5_vies_check is the same run with its VAT number checked in VIES (patch `vies-check`);
onboarding_v6_french_vat_check a French client's given VAT number checked (`... OUT.json vat`).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.registry import LookupCompanyResult
from domain.onboarding import (
    AcceptInvitationInput,
    CompanyDetails,
    OnboardingStatus,
    RetryIntegrationInput,
)
from domain.setup import EffectiveIntegration, IntegrationKind
from tests.factories import converter_for_tests
from tests.workflow_helpers import Fakes, Run, belgian_input, make_input, wait_for_status
from worker.main import WORKFLOW_RUNNER
from workflows.onboarding import OnboardingWorkflow

HISTORIES = Path(__file__).parent.parent / "histories"


def _replayer() -> Replayer:
    return Replayer(
        workflows=[OnboardingWorkflow],
        data_converter=converter_for_tests(),
        workflow_runner=WORKFLOW_RUNNER,
    )


async def _rich_run(env: WorkflowEnvironment) -> WorkflowHistory:
    """An onboarding through most branches: unknown SIRET and details by hand, a failed then
    retried integration, a reminder, then acceptance."""
    fakes = Fakes()
    fakes.registry = lambda attempt: LookupCompanyResult(company=None, attempt=attempt)
    fakes.integrations = [
        EffectiveIntegration(code="bank", kind=IntegrationKind.automation, settings={}),
        EffectiveIntegration(code="portal", kind=IntegrationKind.redirection, settings={}),
    ]
    fakes.integration_failures = {"bank": 5}
    fakes.auto_accept = False
    async with Run(env, fakes) as run:
        handle = await run.start(make_input())
        await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details, CompanyDetails(name="Replay SARL")
        )
        await env.sleep(timedelta(minutes=5))
        await wait_for_status(handle, OnboardingStatus.READY)
        await handle.execute_update(
            OnboardingWorkflow.retry_integration, RetryIntegrationInput(code="bank")
        )
        await env.sleep(timedelta(days=4))
        await handle.signal(OnboardingWorkflow.accept_invitation, AcceptInvitationInput(sequence=1))
        await handle.result()
        return await handle.fetch_history()


async def _belgian_run(env: WorkflowEnvironment) -> WorkflowHistory:
    """A Belgian client (enterprise number, no SIRET) found in the KBO tables (patch
    kbo-lookup), its VAT number checked in VIES (patch vies-check), through to acceptance."""
    fakes = Fakes()
    async with Run(env, fakes) as run:
        handle = await run.start(belgian_input())
        await handle.result()
        return await handle.fetch_history()


async def _vat_run(env: WorkflowEnvironment) -> WorkflowHistory:
    """A French client found in the registry with an EU VAT number given, checked in VIES
    (patch vies-check), through to acceptance."""
    fakes = Fakes()
    async with Run(env, fakes) as run:
        client = make_input().client.model_copy(update={"vat_number": "FR40303265045"})
        handle = await run.start(make_input(client=client))
        await handle.result()
        return await handle.fetch_history()


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    """Each committed history replays without a non-determinism error."""
    text = await asyncio.to_thread(path.read_text)
    history = WorkflowHistory.from_json(path.stem, text)
    result = await _replayer().replay_workflow(history)
    assert result.replay_failure is None


async def test_both_kinds_of_run_are_covered_by_a_recorded_history() -> None:
    """One history from before the local-db-steps patch (every step remote), one after (short
    PostgreSQL steps local, READY written with complete_setup) and one after notice-when-someone
    are replayed above."""
    kinds: dict[str, tuple[set[str], set[str]]] = {}
    for path in sorted(HISTORIES.glob("*.json")):
        history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
        remote = {
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        }
        markers = {
            e.marker_recorded_event_attributes.marker_name
            for e in history.events
            if e.HasField("marker_recorded_event_attributes")
        }
        kinds[path.stem] = (remote, markers)
    before, after = kinds["onboarding_v1"], kinds["onboarding_v2_local_db_steps"]
    assert {"resolve_setup", "create_client", "record_status"} <= before[0] and not before[1]
    assert {"resolve_setup", "create_client", "record_status", "complete_setup"}.isdisjoint(
        after[0]
    )
    assert {"core_patch", "core_local_activity"} <= after[1]
    # The same run without collaborators: v2 notified an empty list, v3 does not.
    assert "notify_collaborators" in after[0]
    assert "notify_collaborators" not in kinds["onboarding_v3_notice_when_someone"][0]


async def test_fresh_history_replays(time_skipping_env: WorkflowEnvironment) -> None:
    """A run made now replays too (the committed files could be stale or missing)."""
    history = await _rich_run(time_skipping_env)
    assert len(history.events) > 50
    result = await _replayer().replay_workflow(history)
    assert result.replay_failure is None


async def record(out: Path, kind: str = "rich") -> None:
    """Record a fresh history into `out` (run after a deliberate, patched workflow change);
    `kind` "belgian" records the KBO lookup's run, "vat" a French VAT check, instead of the
    rich one."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from devstack.temporal_server import test_server_binary
    from domain.search_attributes import ALL_KEYS

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_binary()), data_converter=converter_for_tests()
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    k.name: IndexedValueType.ValueType(int(k.indexed_value_type)) for k in ALL_KEYS
                },
            )
        )
        runs = {"belgian": _belgian_run, "vat": _vat_run}
        history = await runs.get(kind, _rich_run)(env)
        await asyncio.to_thread(out.write_text, history.to_json())
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record(Path(sys.argv[1]), *sys.argv[2:3]))
