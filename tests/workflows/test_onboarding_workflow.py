"""OnboardingWorkflow under the time-skipping test server, with fakes standing in for activities.

Each fake is registered under the real activity's name, so the workflow code is unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.clients import (
    CompleteSetupInput,
    CompleteSetupResult,
    CreateClientInput,
    CreateClientResult,
    RecordStatusInput,
)
from activities.email import SendEmailInput, SendEmailResult, SendOutcome
from activities.setup import ResolveSetupInput, ResolveSetupResult
from domain.onboarding import (
    ClientIn,
    Language,
    OnboardingInput,
    OnboardingStatus,
    OnboardingView,
    StepState,
)
from domain.setup import BillingPeriod, EffectiveSetup, InvitationMode, Payer
from worker.main import WORKFLOW_RUNNER
from workflows.onboarding import OnboardingWorkflow


class Fakes:
    def __init__(self, *, smtp_failures: int = 0, create_error: str | None = None) -> None:
        self.smtp_failures = smtp_failures
        self.create_error = create_error
        self.statuses: list[str] = []

    @activity.defn(name="resolve_setup")
    async def resolve_setup(self, data: ResolveSetupInput) -> ResolveSetupResult:
        setup = EffectiveSetup(
            template_id=uuid.uuid4(),
            template_version=1,
            plan=None,
            add_ons=[],
            payer=Payer.client,
            billing_period=BillingPeriod.monthly,
            user_ids=[],
            integrations=[],
            folder_tree=None,
            invitation_mode=InvitationMode.immediate,
        )
        return ResolveSetupResult(setup=setup, attempt=activity.info().attempt)

    @activity.defn(name="create_client")
    async def create_client(self, data: CreateClientInput) -> CreateClientResult:
        if self.create_error:
            raise ApplicationError(self.create_error, type="ClientMissing", non_retryable=True)
        return CreateClientResult(
            client_id=uuid.uuid4(), created=True, attempt=activity.info().attempt
        )

    @activity.defn(name="complete_setup")
    async def complete_setup(self, data: CompleteSetupInput) -> CompleteSetupResult:
        return CompleteSetupResult(notifications_muted=False, attempt=activity.info().attempt)

    @activity.defn(name="record_status")
    async def record_status(self, data: RecordStatusInput) -> None:
        self.statuses.append(data.status)

    @activity.defn(name="send_email")
    async def send_email(self, data: SendEmailInput) -> SendEmailResult:
        if activity.info().attempt <= self.smtp_failures:
            raise RuntimeError("421 SMTP server not available")
        return SendEmailResult(
            outcome=SendOutcome.sent, message_id="<m@x>", attempt=activity.info().attempt
        )

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.resolve_setup,
            self.create_client,
            self.complete_setup,
            self.record_status,
            self.send_email,
        ]


def _input() -> OnboardingInput:
    return OnboardingInput(
        onboarding_id=uuid.uuid4(),
        partner_id=uuid.uuid4(),
        partner_name="Firm",
        client=ClientIn(name="Client", email="c@example.com", language=Language.en),
    )


async def _run(env: WorkflowEnvironment, fakes: Fakes, data: OnboardingInput) -> OnboardingView:
    # The environment's own client: only it unlocks time skipping while awaiting a result.
    # It carries the project's data converter, passed in by the fixture.
    client = env.client
    queue = f"wf-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[OnboardingWorkflow],
        activities=fakes.all(),
        workflow_runner=WORKFLOW_RUNNER,
    ):
        return await client.execute_workflow(
            OnboardingWorkflow.run, data, id=f"onboarding-{data.onboarding_id}", task_queue=queue
        )


async def test_smtp_outage_is_retried_and_attempts_reported(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Three failed SMTP attempts then success: onboarding completes, step shows 4 attempts."""
    fakes = Fakes(smtp_failures=3)
    view = await _run(time_skipping_env, fakes, _input())
    assert view.status == OnboardingStatus.COMPLETED
    welcome = view.steps[-1]
    assert (welcome.state, welcome.attempts) == (StepState.completed, 4)
    assert fakes.statuses == ["COMPLETED"]


async def test_non_retryable_step_error_fails_onboarding_with_reason(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A business error fails the run at once, records FAILED and names the failing step."""
    fakes = Fakes(create_error="client vanished")
    with pytest.raises(WorkflowFailureError) as caught:
        await _run(time_skipping_env, fakes, _input())
    assert "client vanished" in str(caught.value.cause)
    assert fakes.statuses == ["FAILED"]
