"""`onboarding resume ID` and `onboarding list --status` as ops run them: the real command, in a
subprocess, against a real onboarding workflow parked in NEEDS_ATTENTION (a Temporal test server
of the test's own, whose skipped time lets the step's retries run out in seconds) and the
session's PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from cli.main import app
from core.settings import Settings
from domain.onboarding import OnboardingStatus, Step
from store import onboardings
from store.pool import Pool
from tests.cli_helpers import ops_env, run_onboarding
from tests.factories import Tenant, started_time_skipping_env
from tests.workflow_helpers import FoldersDown, Run, make_input, skip_until_parked


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A test server of this test's own (as tests/workflows/test_stalled_steps.py explains)."""
    async with started_time_skipping_env() as env:
        yield env


async def test_resume_refuses_until_parked_then_carries_the_onboarding_on(
    time_skipping_env: WorkflowEnvironment, settings: Settings, pool: Pool, tenant: Tenant
) -> None:
    """Before it is parked (its folders step still retrying) the command refuses, saying it is
    not parked, and resumes nothing; once parked in NEEDS_ATTENTION (the retries ran out) and
    the cause fixed, the command resumes it and it completes. An unknown id is named as such;
    refusals exit 1."""
    onboarding_id = uuid.uuid4()
    await onboardings.claim(
        pool,
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(onboarding_id),
        request_hash="h",
        workflow_id=f"onboarding-{onboarding_id}",
        status="SETTING_UP",
    )
    env = {
        **ops_env(settings),
        "ONBOARDING_TEMPORAL_ADDRESS": time_skipping_env.client.service_client.config.target_host,
    }
    fakes = FoldersDown()
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(
            make_input(onboarding_id=onboarding_id, partner_id=tenant.partner.id)
        )
        # Time on the test server moves only when skipped: the step is still being retried.
        early = await run_onboarding(env, "resume", f"onboarding-{onboarding_id}")
        assert early.code == 1, early.out
        assert f"onboarding {onboarding_id} is not parked in NEEDS_ATTENTION" in early.err
        assert "not waiting to be resumed" in early.err

        view = await skip_until_parked(time_skipping_env, handle)
        assert view.status == OnboardingStatus.NEEDS_ATTENTION, view
        fakes.up = True  # the cause fixed
        resumed = await run_onboarding(env, "resume", str(onboarding_id))
        assert resumed.code == 0, resumed.err
        assert f"onboarding {onboarding_id}: resumed at step {Step.folders.value}" in resumed.out
        final = await handle.result()
    assert final.status == OnboardingStatus.COMPLETED

    unknown = await run_onboarding(env, "resume", str(uuid.uuid4()))
    assert unknown.code == 1
    assert "no onboarding" in unknown.err, unknown.err


def test_resume_refuses_an_id_that_is_no_onboarding_id() -> None:
    """A malformed id is refused naming the argument, before anything is read."""
    ran = CliRunner().invoke(app, ["resume", "not-an-id"])
    assert ran.exit_code == 2
    assert "ID" in ran.output and "onboarding id" in ran.output


def test_list_status_names_and_takes_every_status_and_refuses_others() -> None:
    """`list --help` names every status the domain has (NEEDS_ATTENTION and WAITING_FOR_UNMUTE
    included), and a status that is none of them is refused listing them."""
    helped = CliRunner().invoke(app, ["list", "--help"], terminal_width=400)
    assert helped.exit_code == 0
    for status in OnboardingStatus:
        assert status.value in helped.output, status
    refused = CliRunner().invoke(app, ["list", "--status", "STUCK"], terminal_width=400)
    assert refused.exit_code == 2
    assert "NEEDS_ATTENTION" in refused.output and "WAITING_FOR_UNMUTE" in refused.output
