"""Retries that know the difference: a data error fails the onboarding at once with its reason;
an outage that outlasts a step's retries parks the onboarding for a person (NEEDS_ATTENTION),
who resumes it once the cause is fixed. Nothing retries unseen for ever."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.clients import CreateClientInput, CreateClientResult
from domain.onboarding import OnboardingStatus, Step, StepState
from store.pool import Pool
from tests.factories import started_time_skipping_env
from tests.workflow_helpers import (
    Fakes,
    FoldersDown,
    Run,
    make_input,
    skip_time,
    skip_until_parked,
    wait_for_status,
)
from workflows.onboarding import OnboardingWorkflow


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A test server of each test's own: these tests skip hours while local activities retry
    inside workflow tasks, and in a full run the session's server, after hundreds of other
    tests, was seen holding time (each sleep then lasting in real time until the test timed
    out), though the same tests pass on a fresh one in seconds."""
    async with started_time_skipping_env() as env:
        yield env


class DataErrorOnCreate(Fakes):
    """create_client meets a real PostgreSQL data error: text the server cannot store."""

    def __init__(self, pool: Pool) -> None:
        super().__init__()
        self.pool = pool
        self.create_attempts = 0

    @activity.defn(name="create_client")
    async def create_client(self, data: CreateClientInput) -> CreateClientResult:
        self.create_attempts += 1
        await self.pool.execute("SELECT $1::text", f"{data.client.first_name}\x00secret-value")
        raise AssertionError("PostgreSQL accepted a NUL")


class CreateClientDown(Fakes):
    """create_client (a local activity in new runs) fails as an unreachable PostgreSQL does."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False
        self.create_attempts = 0

    @activity.defn(name="create_client")
    async def create_client(self, data: CreateClientInput) -> CreateClientResult:
        self.create_attempts += 1
        if not self.up:
            raise ConnectionRefusedError("connection refused")
        return await super().create_client(data)


async def test_data_error_fails_the_onboarding_at_once_with_the_reason(
    time_skipping_env: WorkflowEnvironment, pool: Pool
) -> None:
    """One attempt, FAILED, the reason in our words and without the refused value."""
    fakes = DataErrorOnCreate(pool)
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        view = await handle.query(OnboardingWorkflow.status)
    assert fakes.create_attempts == 1
    assert view.status == OnboardingStatus.FAILED
    assert view.failure is not None
    assert "PostgreSQL refused the data" in view.failure
    assert "cannot store" in view.failure
    assert "secret-value" not in view.failure
    step = next(s for s in view.steps if s.name == Step.create_client)
    assert step.state == StepState.failed
    assert fakes.statuses[-1] == "FAILED"


async def test_outage_outlasting_retries_waits_for_a_person_then_resumes(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Folders keep failing: after the policy's attempts the onboarding says so and waits; a
    resume after the fix carries it to the end."""
    fakes = FoldersDown()
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        view = await skip_until_parked(time_skipping_env, handle)
        assert view.status == OnboardingStatus.NEEDS_ATTENTION, view
        attempts_when_parked = fakes.folder_attempts
        step = next(s for s in view.steps if s.name == Step.folders)
        assert step.state == StepState.waiting
        # A converted Python exception: its type only, its text may quote data.
        assert step.last_error == "ConnectionRefusedError (see the worker's log)"
        assert view.waiting_for and "folders" in view.waiting_for
        assert "NEEDS_ATTENTION" in fakes.statuses
        # Parked means parked: no attempt is made while nobody has resumed it.
        await skip_time(time_skipping_env, 3600)
        assert fakes.folder_attempts == attempts_when_parked
        fakes.up = True
        resumed = await handle.execute_update(OnboardingWorkflow.resume)
        assert resumed.step == Step.folders
        final = await handle.result()
    assert attempts_when_parked == 15  # DB_RETRY's bound
    assert final.status == OnboardingStatus.COMPLETED
    assert next(s for s in final.steps if s.name == Step.folders).state == StepState.completed
    assert final.waiting_for is None


async def test_resume_is_refused_when_nothing_is_stalled(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The validator says why, and nothing reaches the history."""
    fakes = Fakes()
    fakes.auto_accept = False
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        await wait_for_status(handle, OnboardingStatus.READY)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(OnboardingWorkflow.resume)
        assert "not waiting to be resumed" in str(refused.value.cause)
        await handle.terminate("test over")


async def test_local_step_outlasting_retries_waits_for_a_person_then_resumes(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A local activity keeps the remote rules: its attempts are bounded by the same policy,
    then the onboarding parks in NEEDS_ATTENTION (not FAILED) until a resume."""
    fakes = CreateClientDown()
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        view = await skip_until_parked(time_skipping_env, handle)
        assert view.status == OnboardingStatus.NEEDS_ATTENTION, view
        step = next(s for s in view.steps if s.name == Step.create_client)
        assert step.state == StepState.waiting
        # A converted Python exception: its type only, its text may quote data.
        assert step.last_error == "ConnectionRefusedError (see the worker's log)"
        attempts_when_parked = fakes.create_attempts
        await skip_time(time_skipping_env, 3600)
        assert fakes.create_attempts == attempts_when_parked
        fakes.up = True
        resumed = await handle.execute_update(OnboardingWorkflow.resume)
        assert resumed.step == Step.create_client
        final = await handle.result()
        history = await handle.fetch_history()
    assert attempts_when_parked == 15  # DB_RETRY's bound, as for a remote step
    assert final.status == OnboardingStatus.COMPLETED
    assert fakes.statuses == ["NEEDS_ATTENTION", "SETTING_UP", "READY", "COMPLETED"]
    scheduled = {
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    # Only the steps that must stay remote reached the server's task queues (no collaborator in
    # this setup: nobody to notify).
    assert scheduled == {"lookup_company", "create_folders", "send_invitation"}
