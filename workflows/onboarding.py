"""OnboardingWorkflow: one durable run per client onboarding.

Walking skeleton: create the client (notifications muted), complete its setup (unmute), send a
welcome e-mail. Each step is an activity with a timeout and an explicit retry policy, and the
`status` query reports every step so ops can see where a run stands.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Passed through: these modules are loaded once by the worker, not re-imported per run in the
    # sandbox. The workflow only uses their pydantic models and method references.
    from activities.clients import (
        ClientActivities,
        CompleteSetupInput,
        CreateClientInput,
        RecordStatusInput,
    )
    from activities.email import EmailActivities, SendEmailInput, SendOutcome
    from activities.setup import ResolveSetupInput, SetupActivities
    from domain.onboarding import (
        OnboardingInput,
        OnboardingStatus,
        OnboardingView,
        Step,
        StepState,
        StepStatus,
    )
    from workflows import search_attributes as sa

# Database work: quick, so a short timeout; retried for a long while because PostgreSQL being
# briefly down must delay an onboarding, never lose it.
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["ClientMissing", "SetupInvalid"],
)
DB_TIMEOUT = timedelta(seconds=30)
# SMTP: 4xx and refused connections are temporary; 5xx comes back as a 'bounced' result instead.
SMTP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
)
SMTP_TIMEOUT = timedelta(seconds=60)


class _Attempted(Protocol):
    attempt: int


R = TypeVar("R", bound=_Attempted)


@workflow.defn
class OnboardingWorkflow:
    @workflow.init
    def __init__(self, data: OnboardingInput) -> None:
        self._view = OnboardingView(
            onboarding_id=data.onboarding_id,
            status=OnboardingStatus.SETTING_UP,
            steps=[StepStatus(name=step) for step in Step],
        )

    @workflow.query
    def status(self) -> OnboardingView:
        """Every step with its state, attempts, last error and timestamps."""
        return self._view

    def _step_status(self, step: Step) -> StepStatus:
        return next(s for s in self._view.steps if s.name == step)

    async def _run_step(self, step: Step, call: Callable[[], Awaitable[R]]) -> R:
        status = self._step_status(step)
        status.state = StepState.running
        status.started_at = workflow.now()
        try:
            result = await call()
        except ActivityError as exc:
            status.state = StepState.failed
            status.finished_at = workflow.now()
            status.last_error = str(exc.cause or exc)
            raise
        status.state = StepState.completed
        status.attempts = result.attempt
        status.finished_at = workflow.now()
        return result

    async def _set_status(self, status: OnboardingStatus) -> None:
        self._view.status = status
        workflow.upsert_search_attributes([sa.ONBOARDING_STATUS.value_set(status.value)])
        await workflow.execute_activity_method(
            ClientActivities.record_status,
            RecordStatusInput(onboarding_id=self._view.onboarding_id, status=status.value),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )

    @workflow.run
    async def run(self, data: OnboardingInput) -> OnboardingView:
        try:
            await self._onboard(data)
        except ActivityError as exc:
            self._view.failure = str(exc.cause or exc)
            await self._set_status(OnboardingStatus.FAILED)
            raise ApplicationError(
                f"onboarding failed: {self._view.failure}", type="OnboardingFailed"
            ) from exc
        await self._set_status(OnboardingStatus.COMPLETED)
        return self._view

    async def _onboard(self, data: OnboardingInput) -> None:
        resolved = await self._run_step(
            Step.resolve_setup,
            lambda: workflow.execute_activity_method(
                SetupActivities.resolve_setup,
                ResolveSetupInput(
                    partner_id=data.partner_id,
                    template_id=data.template_id,
                    overrides=data.overrides,
                ),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            ),
        )
        self._view.setup = resolved.setup

        created = await self._run_step(
            Step.create_client,
            lambda: workflow.execute_activity_method(
                ClientActivities.create_client,
                CreateClientInput(
                    onboarding_id=data.onboarding_id,
                    partner_id=data.partner_id,
                    client=data.client,
                    setup=resolved.setup,
                ),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            ),
        )
        self._view.client_id = created.client_id

        await self._run_step(
            Step.complete_setup,
            lambda: workflow.execute_activity_method(
                ClientActivities.complete_setup,
                CompleteSetupInput(client_id=created.client_id),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            ),
        )

        sent = await self._run_step(
            Step.send_welcome,
            lambda: workflow.execute_activity_method(
                EmailActivities.send_email,
                SendEmailInput(
                    onboarding_id=data.onboarding_id,
                    purpose="welcome",
                    recipient=str(data.client.email),
                    kind="welcome",
                    language=data.client.language.value,
                    context={"client_name": data.client.name, "partner_name": data.partner_name},
                    client_id=created.client_id,
                ),
                start_to_close_timeout=SMTP_TIMEOUT,
                retry_policy=SMTP_RETRY,
            ),
        )
        if sent.outcome == SendOutcome.bounced:
            self._step_status(Step.send_welcome).last_error = sent.error
