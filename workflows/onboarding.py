"""OnboardingWorkflow: one durable run per client onboarding.

Steps: resolve the setup; check and look up the SIRET (waiting for a person's company details when
the registry cannot help); create the client muted, with its director; fiscal year and folders;
collaborators and subscription; integrations in parallel; unmute; the director's invitation.
Every step is an activity with a timeout and an explicit retry policy, and the `status` query
reports every step so ops can see where a run stands and what it waits for.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Passed through: loaded once by the worker, not re-imported per run in the sandbox. The
    # workflow only uses their pydantic models and activity method references.
    from activities.clients import (
        ClientActivities,
        CompleteSetupInput,
        CreateClientInput,
        RecordStatusInput,
    )
    from activities.company import CheckSiretInput, CompanyActivities
    from activities.email import EmailActivities, SendEmailInput, SendOutcome
    from activities.folders import CreateFoldersInput, FolderActivities
    from activities.integrations import (
        AssignInput,
        ClientSetupActivities,
        ConnectIntegrationInput,
        RecordIntegrationFailureInput,
    )
    from activities.registry import LookupCompanyInput, RegistryActivities
    from activities.setup import ResolveSetupInput, SetupActivities
    from domain.company import CompanyRecord
    from domain.onboarding import (
        CompanyDetails,
        IntegrationStatus,
        OnboardingInput,
        OnboardingStatus,
        OnboardingView,
        ProvideCompanyDetailsResult,
        RetryIntegrationInput,
        RetryIntegrationResult,
        Step,
        StepState,
        StepStatus,
    )
    from domain.setup import EffectiveIntegration, EffectiveSetup, InvitationMode
    from workflows import search_attributes as sa

# Database work: quick, so a short timeout; retried for a long while because PostgreSQL being
# briefly down must delay an onboarding, never lose it.
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["ClientMissing", "SetupInvalid", "DuplicateSiret"],
)
DB_TIMEOUT = timedelta(seconds=30)
# Registry: 429 carries Retry-After (the activity sets next_retry_delay), 5xx and timeouts back
# off; the whole lookup is bounded by the onboarding's company_lookup deadline.
REGISTRY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["InvalidSiret", "RegistryRejected"],
)
REGISTRY_TIMEOUT = timedelta(seconds=15)
# Folder trees can be large: a long timeout, and a heartbeat so a dead worker is noticed fast.
FOLDERS_TIMEOUT = timedelta(minutes=30)
FOLDERS_HEARTBEAT = timedelta(seconds=30)
# Integrations: a partner's app gets a few tries; after that a person decides (retry_integration).
INTEGRATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
    non_retryable_error_types=["IntegrationRejected", "IntegrationMisconfigured"],
)
INTEGRATION_TIMEOUT = timedelta(seconds=60)
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


def _cause(exc: BaseException) -> str:
    """The innermost message of an activity failure: what actually went wrong."""
    while isinstance(exc, ActivityError) and exc.cause is not None:
        exc = exc.cause
    return str(exc)


def _error_type(exc: BaseException) -> str | None:
    while isinstance(exc, ActivityError) and exc.cause is not None:
        exc = exc.cause
    return exc.type if isinstance(exc, ApplicationError) else None


@workflow.defn
class OnboardingWorkflow:
    @workflow.init
    def __init__(self, data: OnboardingInput) -> None:
        self._data = data
        self._view = OnboardingView(
            onboarding_id=data.onboarding_id,
            status=OnboardingStatus.SETTING_UP,
            steps=[StepStatus(name=step) for step in Step],
        )
        self._awaiting_details = False
        self._details: CompanyDetails | None = None
        self._setup: EffectiveSetup | None = None
        self._send_invitation_now = False

    # ---- queries and updates ------------------------------------------------------------------

    @workflow.query
    def status(self) -> OnboardingView:
        """Every step with its state, attempts, last error and timestamps."""
        return self._view

    @workflow.update
    async def provide_company_details(self, details: CompanyDetails) -> ProvideCompanyDetailsResult:
        """Company data entered by a person when the registry could not provide it."""
        self._details = details
        return ProvideCompanyDetailsResult(accepted=True, status=self._view.status)

    @provide_company_details.validator
    def _validate_company_details(self, details: CompanyDetails) -> None:
        # A validator rejects before anything is written to history: a late or stray call
        # leaves no trace and the caller learns why at once.
        if not self._awaiting_details:
            raise ValueError("this onboarding is not waiting for company details")

    @workflow.update
    async def retry_integration(self, data: RetryIntegrationInput) -> RetryIntegrationResult:
        """Try a failed integration again, with a fresh set of attempts."""
        assert self._view.client_id is not None and self._setup is not None
        integration = next(i for i in self._setup.integrations if i.code == data.code)
        await self._connect(integration)
        state = next(i.state for i in self._view.integrations if i.code == data.code)
        return RetryIntegrationResult(code=data.code, state=state)

    @retry_integration.validator
    def _validate_retry_integration(self, data: RetryIntegrationInput) -> None:
        failed = {i.code for i in self._view.integrations if i.state == StepState.failed}
        if data.code not in failed:
            raise ValueError(
                f"integration {data.code!r} has not failed"
                + (f"; failed ones: {', '.join(sorted(failed))}" if failed else "")
            )

    @workflow.update
    async def send_invitation_now(self) -> str:
        """Send the director's invitation now instead of waiting (manual or scheduled mode)."""
        self._send_invitation_now = True
        return "requested"

    @send_invitation_now.validator
    def _validate_send_now(self) -> None:
        step = self._step(Step.invitation)
        if step.state in (StepState.completed, StepState.running):
            raise ValueError("the invitation has already been sent")

    # ---- plumbing -------------------------------------------------------------------------------

    def _step(self, step: Step) -> StepStatus:
        return next(s for s in self._view.steps if s.name == step)

    async def _run_step(self, step: Step, call: Callable[[], Awaitable[R]]) -> R:
        status = self._step(step)
        status.state = StepState.running
        status.started_at = status.started_at or workflow.now()
        try:
            result = await call()
        except ActivityError as exc:
            status.state = StepState.failed
            status.finished_at = workflow.now()
            status.last_error = _cause(exc)
            raise
        status.state = StepState.completed
        status.attempts += result.attempt
        status.finished_at = workflow.now()
        return result

    async def _set_status(self, status: OnboardingStatus) -> None:
        self._view.status = status
        workflow.upsert_search_attributes([sa.ONBOARDING_STATUS.value_set(status.value)])
        await workflow.execute_activity_method(
            ClientActivities.record_status,
            RecordStatusInput(onboarding_id=self._data.onboarding_id, status=status.value),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )

    # ---- the run --------------------------------------------------------------------------------

    @workflow.run
    async def run(self, data: OnboardingInput) -> OnboardingView:
        try:
            await self._onboard(data)
        except (ActivityError, ApplicationError) as exc:
            self._view.failure = _cause(exc)
            self._view.waiting_for = None
            await self._set_status(OnboardingStatus.FAILED)
            raise ApplicationError(
                f"onboarding failed: {self._view.failure}", type="OnboardingFailed"
            ) from exc
        # Updates in flight (a retry) finish before the run completes.
        await workflow.wait_condition(workflow.all_handlers_finished)
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
        setup = self._setup = self._view.setup = resolved.setup
        mode = data.invitation_mode or setup.invitation_mode
        workflow.upsert_search_attributes([sa.INVITATION_MODE.value_set(mode.value)])
        if mode == InvitationMode.scheduled and data.invitation_scheduled_at is not None:
            workflow.upsert_search_attributes(
                [sa.INVITATION_SCHEDULED_AT.value_set(data.invitation_scheduled_at)]
            )

        company, manual = await self._company(data)
        client_id = await self._create_client(data, setup, company, manual)
        self._view.client_id = client_id

        folders = await self._run_step(
            Step.folders,
            lambda: workflow.execute_activity_method(
                FolderActivities.create_folders,
                CreateFoldersInput(
                    client_id=client_id,
                    partner_id=data.partner_id,
                    folder_tree=setup.folder_tree,
                    fiscal_year_start=data.fiscal_year.start,
                    fiscal_year_end=data.fiscal_year.end,
                    language=data.client.language.value,
                ),
                start_to_close_timeout=FOLDERS_TIMEOUT,
                heartbeat_timeout=FOLDERS_HEARTBEAT,
                retry_policy=DB_RETRY,
            ),
        )
        self._view.folders_created = folders.folders_planned

        await self._run_step(
            Step.collaborators_and_subscription,
            lambda: workflow.execute_activity_method(
                ClientSetupActivities.assign_collaborators_and_subscription,
                AssignInput(
                    client_id=client_id,
                    user_ids=setup.user_ids,
                    plan=setup.plan,
                    add_ons=setup.add_ons,
                    payer=setup.payer,
                    billing_period=setup.billing_period,
                ),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            ),
        )

        await self._integrations(setup)

        done = await self._run_step(
            Step.complete_setup,
            lambda: workflow.execute_activity_method(
                ClientActivities.complete_setup,
                CompleteSetupInput(client_id=client_id, keep_muted=data.keep_muted),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            ),
        )
        self._step(Step.complete_setup).detail = (
            "notifications kept muted" if done.notifications_muted else "notifications on"
        )
        await self._set_status(OnboardingStatus.READY)

        await self._invitation(data, client_id, mode)

        # Failed integrations keep the run open for a while so a person can retry them.
        if any(i.state == StepState.failed for i in self._view.integrations):
            self._view.waiting_for = "a retry of the failed integrations (retry_integration)"
            try:
                await workflow.wait_condition(
                    lambda: all(i.state != StepState.failed for i in self._view.integrations),
                    timeout=data.timeouts.integration_retry_window,
                )
            except TimeoutError:
                pass  # still failed: recorded on the client's integrations; the run may end
            self._view.waiting_for = None

    # ---- step 2: the company ----------------------------------------------------------------

    async def _company(
        self, data: OnboardingInput
    ) -> tuple[CompanyRecord | None, CompanyDetails | None]:
        """(registry record, details by hand): at most one of them is set."""
        step = self._step(Step.company_lookup)
        siret = data.client.siret
        if siret is None:
            step.state = StepState.skipped
            step.detail = "no SIRET given"
            return None, None
        step.state = StepState.running
        step.started_at = workflow.now()
        available = await workflow.execute_activity_method(
            CompanyActivities.check_siret_available,
            CheckSiretInput(
                partner_id=data.partner_id, onboarding_id=data.onboarding_id, siret=siret
            ),
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        if not available.available:
            return None, await self._await_details(data, "SIRET already used by another client")
        try:
            found = await workflow.execute_activity_method(
                RegistryActivities.lookup_company,
                LookupCompanyInput(siret=siret),
                task_queue=data.registry_task_queue,
                start_to_close_timeout=REGISTRY_TIMEOUT,
                schedule_to_close_timeout=data.timeouts.company_lookup,
                retry_policy=REGISTRY_RETRY,
            )
        except ActivityError as exc:
            step.last_error = _cause(exc)
            return None, await self._await_details(data, "registry unreachable or refused")
        step.attempts = found.attempt
        if found.company is None:
            return None, await self._await_details(data, "SIRET unknown to the registry")
        if not found.company.active:
            return None, await self._await_details(data, "the company or establishment is closed")
        step.state = StepState.completed
        step.finished_at = workflow.now()
        step.detail = f"found in {found.company.source}"
        self._view.company = found.company
        return found.company, None

    async def _await_details(self, data: OnboardingInput, reason: str) -> CompanyDetails:
        """Wait for provide_company_details; fail the onboarding if nobody answers in time."""
        step = self._step(Step.company_lookup)
        step.state = StepState.waiting
        step.detail = reason
        self._view.waiting_for = f"company details ({reason}): update provide_company_details"
        self._awaiting_details = True
        await self._set_status(OnboardingStatus.AWAITING_COMPANY_DETAILS)
        try:
            await workflow.wait_condition(
                lambda: self._details is not None, timeout=data.timeouts.company_details
            )
        except TimeoutError:
            raise ApplicationError(
                f"no company details provided within {data.timeouts.company_details} ({reason})",
                type="CompanyDetailsTimeout",
                non_retryable=True,
            ) from None
        self._awaiting_details = False
        details = self._details
        assert details is not None
        self._details = None
        self._view.waiting_for = None
        step.state = StepState.completed
        step.finished_at = workflow.now()
        step.detail = f"{reason}; details provided by hand"
        await self._set_status(OnboardingStatus.SETTING_UP)
        return details

    # ---- step 3: the client ---------------------------------------------------------------------

    async def _create_client(
        self,
        data: OnboardingInput,
        setup: EffectiveSetup,
        company: CompanyRecord | None,
        manual: CompanyDetails | None,
    ) -> Any:
        while True:
            name: str | None
            siret: str | None
            record: dict[str, Any] | None
            if company is not None:
                name, siret, record = company.name, company.siret, company.model_dump(mode="json")
            elif manual is not None:
                name, siret, record = manual.name, manual.siret, manual.model_dump(mode="json")
            else:
                name, siret, record = data.client.company_name, None, None
            payload = CreateClientInput(
                onboarding_id=data.onboarding_id,
                partner_id=data.partner_id,
                client=data.client,
                director=data.director,
                setup=setup,
                company_name=name,
                siret=siret,
                company=record,
            )
            try:
                created = await self._run_step(
                    Step.create_client,
                    functools.partial(
                        workflow.execute_activity_method,
                        ClientActivities.create_client,
                        payload,
                        start_to_close_timeout=DB_TIMEOUT,
                        retry_policy=DB_RETRY,
                    ),
                )
                return created.client_id
            except ActivityError as exc:
                if _error_type(exc) != "DuplicateSiret":
                    raise
                # Another onboarding took the SIRET since the check: a person must decide.
                self._step(Step.create_client).state = StepState.pending
                company, manual = (
                    None,
                    await self._await_details(data, "SIRET already used by another client"),
                )

    # ---- step 6: integrations ---------------------------------------------------------------

    async def _integrations(self, setup: EffectiveSetup) -> None:
        step = self._step(Step.integrations)
        if not setup.integrations:
            step.state = StepState.skipped
            step.detail = "no integrations in the setup"
            return
        step.state = StepState.running
        step.started_at = workflow.now()
        self._view.integrations = [
            IntegrationStatus(code=i.code, state=StepState.pending) for i in setup.integrations
        ]
        # In parallel: apps are independent, and one slow app must not hold up the others.
        await asyncio.gather(*(self._connect(i) for i in setup.integrations))
        failed = [i.code for i in self._view.integrations if i.state == StepState.failed]
        step.finished_at = workflow.now()
        step.state = StepState.failed if failed else StepState.completed
        step.detail = f"failed: {', '.join(failed)} (retry_integration)" if failed else None

    async def _connect(self, integration: EffectiveIntegration) -> None:
        status = next(i for i in self._view.integrations if i.code == integration.code)
        status.state = StepState.running
        assert self._view.client_id is not None
        try:
            result = await workflow.execute_activity_method(
                ClientSetupActivities.connect_integration,
                ConnectIntegrationInput(
                    client_id=self._view.client_id,
                    partner_id=self._data.partner_id,
                    onboarding_id=self._data.onboarding_id,
                    template_id=self._setup.template_id if self._setup else None,
                    integration=integration,
                ),
                start_to_close_timeout=INTEGRATION_TIMEOUT,
                retry_policy=INTEGRATION_RETRY,
            )
        except ActivityError as exc:
            status.state = StepState.failed
            status.last_error = _cause(exc)
            status.attempts += 1
            # A failed integration is recorded and the onboarding goes on.
            await workflow.execute_activity_method(
                ClientSetupActivities.record_integration_failure,
                RecordIntegrationFailureInput(
                    client_id=self._view.client_id,
                    code=integration.code,
                    kind=integration.kind,
                    error=status.last_error,
                ),
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
            return
        status.state = StepState.completed
        status.attempts += result.attempt
        status.last_error = None
        if all(i.state == StepState.completed for i in self._view.integrations):
            step = self._step(Step.integrations)
            step.state, step.detail = StepState.completed, None

    # ---- step 8: invitation (its full life cycle comes with the invitation work) -----------------

    async def _invitation(
        self, data: OnboardingInput, client_id: Any, mode: InvitationMode
    ) -> None:
        step = self._step(Step.invitation)
        if mode == InvitationMode.scheduled and data.invitation_scheduled_at is not None:
            step.state = StepState.waiting
            step.detail = f"scheduled for {data.invitation_scheduled_at.isoformat()}"
            delay = data.invitation_scheduled_at - workflow.now()
            if delay > timedelta(0):
                # A durable timer: survives worker restarts; send-now cuts it short.
                try:
                    await workflow.wait_condition(lambda: self._send_invitation_now, timeout=delay)
                except TimeoutError:
                    pass
        elif mode == InvitationMode.manual:
            step.state = StepState.waiting
            step.detail = "manual: waiting for send_invitation_now"
            self._view.waiting_for = "someone to send the invitation (send_invitation_now)"
            await workflow.wait_condition(lambda: self._send_invitation_now)
            self._view.waiting_for = None
        director = data.director
        sent = await self._run_step(
            Step.invitation,
            lambda: workflow.execute_activity_method(
                EmailActivities.send_email,
                SendEmailInput(
                    onboarding_id=data.onboarding_id,
                    purpose="invitation",
                    recipient=str(director.email),
                    kind="welcome",
                    language=data.client.language.value,
                    context={
                        "client_name": f"{director.first_name} {director.last_name}",
                        "partner_name": data.partner_name,
                    },
                    client_id=client_id,
                ),
                start_to_close_timeout=SMTP_TIMEOUT,
                retry_policy=SMTP_RETRY,
            ),
        )
        step.detail = f"e-mail {sent.outcome.value}"
        if sent.outcome in (SendOutcome.bounced, SendOutcome.suppressed):
            step.last_error = sent.error or f"e-mail {sent.outcome.value}"
