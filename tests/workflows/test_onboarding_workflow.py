"""OnboardingWorkflow under the time-skipping test server, every branch, with fakes standing in
for the activities (each registered under the real activity's name, so the workflow is unchanged).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.checklists import AssignChecklistInput, AssignChecklistResult
from activities.client_setup import AssignInput, AssignResult
from activities.clients import (
    ClientNotificationsInput,
    CompleteSetupInput,
    CompleteSetupResult,
    CreateClientInput,
    CreateClientResult,
    RecordInvitationInput,
    RecordStatusInput,
)
from activities.company_checks import (
    CheckSiretInput,
    CheckSiretResult,
    LookupEnterpriseInput,
    LookupEnterpriseResult,
)
from activities.email import SendEmailResult, SendOutcome
from activities.escalations import EscalateInput
from activities.folders import CreateFoldersInput, CreateFoldersResult
from activities.integrations import (
    ConnectIntegrationInput,
    ConnectIntegrationResult,
    RecordIntegrationFailureInput,
)
from activities.invitations import (
    InvitationPurpose,
    NotifyCollaboratorsInput,
    NotifyCollaboratorsResult,
    SendInvitationInput,
)
from activities.registry import LookupCompanyInput, LookupCompanyResult
from activities.setup import ResolveSetupInput, ResolveSetupResult
from activities.vies import CheckVatInput, CheckVatResult
from domain.company import CompanyRecord
from domain.fiscal_calendar import FiscalYear
from domain.onboarding import (
    AcceptInvitationInput,
    ClientIn,
    CompanyDetails,
    DirectorIn,
    Language,
    OnboardingInput,
    OnboardingStatus,
    OnboardingView,
    RetryIntegrationInput,
    Step,
    StepState,
    Timeouts,
)
from domain.setup import (
    BillingPeriod,
    EffectiveIntegration,
    EffectiveSetup,
    IntegrationKind,
    InvitationMode,
    Payer,
)
from worker.interceptors import DataErrorsAreFinal
from worker.main import WORKFLOW_RUNNER
from workflows.onboarding import OnboardingWorkflow

DANONE = CompanyRecord(
    siret="55203253400646",
    siren="552032534",
    name="DANONE",
    address="17 BOULEVARD HAUSSMANN 75009 PARIS",
    postal_code="75009",
    city="PARIS",
    activity_code="70.10Z",
    legal_form="5599",
    is_head_office=True,
    active=True,
    source="recherche-entreprises",
)
PROXIMUS = CompanyRecord(
    enterprise_number="0202239951",
    name="Proximus",
    address="Boulevard du Roi Albert II 27, 1030 Schaerbeek",
    postal_code="1030",
    city="Schaerbeek",
    legal_form="116",
    is_head_office=True,
    active=True,
    source="kbo-open-data",
    extract_date=date(2026, 11, 27),
)


class Fakes:
    """Activity fakes whose behaviour each test sets; they record what the workflow asked."""

    def __init__(self) -> None:
        self.registry: Callable[[int], LookupCompanyResult] = lambda attempt: LookupCompanyResult(
            company=DANONE, attempt=attempt
        )
        self.siret_available = True
        # The KBO/BCE lookup of a Belgian client (an enterprise number, no SIRET).
        self.kbo: Callable[[int], LookupEnterpriseResult] = lambda attempt: LookupEnterpriseResult(
            available=True,
            company=PROXIMUS,
            extract_date=date(2026, 11, 27),
            extract_age_days=7,
            attempt=attempt,
        )
        self.kbo_calls: list[LookupEnterpriseInput] = []
        # VIES: valid, or None for "unavailable" on every attempt.
        self.vies_valid: bool | None = True
        self.vies_calls = 0
        self.vies_asked: list[CheckVatInput] = []
        self.duplicate_on_create = 0
        self.integration_failures: dict[str, int] = {}
        self.integrations: list[EffectiveIntegration] = []
        self.email_outcome = SendOutcome.sent
        self.auto_accept = True
        self.collaborator_notices: list[NotifyCollaboratorsInput] = []
        self.statuses: list[str] = []
        self.created: list[CreateClientInput] = []
        self.emails: list[SendInvitationInput] = []
        self.sent_at: list[tuple[str, int, int, datetime]] = []
        self.outcomes: list[SendOutcome] = []
        self.registry_calls = 0
        self.connect_calls: dict[str, int] = {}
        self.recorded_failures: list[str] = []
        self.setup_muted: list[bool] = []  # keep_muted as complete_setup received it
        self.switched: list[bool] = []  # the client row's notifications_muted, as written
        # The client row's invitation state and planned time, as projected for the list.
        self.projected: list[tuple[str | None, datetime | None]] = []
        # Escalations to the onboarding's creator: (input, when the server scheduled it).
        self.escalations: list[tuple[EscalateInput, datetime]] = []
        self.checklist_id: uuid.UUID | None = None
        self.checklist_gone = False  # deleted from the catalog after the setup resolved
        self.assigned: list[AssignChecklistInput] = []
        self.user_ids: list[uuid.UUID] = []  # the setup's collaborators

    @activity.defn(name="resolve_setup")
    async def resolve_setup(self, data: ResolveSetupInput) -> ResolveSetupResult:
        setup = EffectiveSetup(
            template_id=uuid.uuid4(),
            template_version=1,
            plan="essentials",
            add_ons=[],
            payer=Payer.client,
            billing_period=BillingPeriod.monthly,
            user_ids=self.user_ids,
            integrations=self.integrations,
            folder_tree="ged",
            invitation_mode=InvitationMode.immediate,
            checklist_id=self.checklist_id,
        )
        return ResolveSetupResult(setup=setup, attempt=activity.info().attempt)

    @activity.defn(name="check_siret_available")
    async def check_siret_available(self, data: CheckSiretInput) -> CheckSiretResult:
        return CheckSiretResult(available=self.siret_available, attempt=activity.info().attempt)

    @activity.defn(name="lookup_enterprise")
    async def lookup_enterprise(self, data: LookupEnterpriseInput) -> LookupEnterpriseResult:
        self.kbo_calls.append(data)
        return self.kbo(activity.info().attempt)

    @activity.defn(name="check_vat")
    async def check_vat(self, data: CheckVatInput) -> CheckVatResult:
        self.vies_calls += 1
        self.vies_asked.append(data)
        if self.vies_valid is None:
            raise ApplicationError("VIES unavailable: MS_UNAVAILABLE", type="ViesUnavailable")
        return CheckVatResult(
            valid=self.vies_valid,
            name="Proximus" if self.vies_valid else None,
            checked_at=datetime(2026, 12, 4, tzinfo=UTC),
            attempt=activity.info().attempt,
        )

    @activity.defn(name="lookup_company")
    async def lookup_company(self, data: LookupCompanyInput) -> LookupCompanyResult:
        self.registry_calls += 1
        return self.registry(activity.info().attempt)

    @activity.defn(name="create_client")
    async def create_client(self, data: CreateClientInput) -> CreateClientResult:
        if self.duplicate_on_create > 0:
            self.duplicate_on_create -= 1
            raise ApplicationError("SIRET taken", type="DuplicateSiret", non_retryable=True)
        self.created.append(data)
        return CreateClientResult(
            client_id=uuid.uuid5(uuid.NAMESPACE_OID, str(data.onboarding_id)),
            created=True,
            attempt=activity.info().attempt,
        )

    @activity.defn(name="create_folders")
    async def create_folders(self, data: CreateFoldersInput) -> CreateFoldersResult:
        return CreateFoldersResult(
            folders_planned=14, folders_created=14, months=12, attempt=activity.info().attempt
        )

    @activity.defn(name="assign_collaborators_and_subscription")
    async def assign(self, data: AssignInput) -> AssignResult:
        return AssignResult(
            collaborators_added=0, subscription_created=True, attempt=activity.info().attempt
        )

    @activity.defn(name="connect_integration")
    async def connect_integration(self, data: ConnectIntegrationInput) -> ConnectIntegrationResult:
        code = data.integration.code
        self.connect_calls[code] = self.connect_calls.get(code, 0) + 1
        if self.integration_failures.get(code, 0) > 0:
            self.integration_failures[code] -= 1
            raise ApplicationError("app answered 503", type="IntegrationUnavailable")
        return ConnectIntegrationResult(
            code=code, state="connected", external_ref="c-1", attempt=activity.info().attempt
        )

    @activity.defn(name="record_integration_failure")
    async def record_integration_failure(self, data: RecordIntegrationFailureInput) -> None:
        self.recorded_failures.append(data.code)

    @activity.defn(name="complete_setup")
    async def complete_setup(self, data: CompleteSetupInput) -> CompleteSetupResult:
        self.setup_muted.append(data.keep_muted)
        if data.status is not None:
            self.statuses.append(data.status)  # READY, folded into the step that makes it so
        return CompleteSetupResult(
            notifications_muted=data.keep_muted, attempt=activity.info().attempt
        )

    @activity.defn(name="notify_collaborators")
    async def notify_collaborators(
        self, data: NotifyCollaboratorsInput
    ) -> NotifyCollaboratorsResult:
        self.collaborator_notices.append(data)
        return NotifyCollaboratorsResult(
            notified=len(data.user_ids), attempt=activity.info().attempt
        )

    @activity.defn(name="set_notifications")
    async def set_notifications(self, data: ClientNotificationsInput) -> None:
        self.switched.append(data.muted)

    @activity.defn(name="record_invitation")
    async def record_invitation(self, data: RecordInvitationInput) -> None:
        self.projected.append((data.state, data.scheduled_at))

    @activity.defn(name="assign_checklist")
    async def assign_checklist(self, data: AssignChecklistInput) -> AssignChecklistResult:
        self.assigned.append(data)
        # Before the invitation, which lists the checklist's items.
        assert not self.emails, "assigned after an invitation went"
        if self.checklist_gone:
            raise ApplicationError(
                f"checklist {data.checklist_id} is not in the partner's catalog",
                type="ChecklistMissing",
                non_retryable=True,
            )
        return AssignChecklistResult(
            assigned=True, checklist_id=data.checklist_id, item_count=3, attempt=1
        )

    @activity.defn(name="escalate")
    async def escalate(self, data: EscalateInput) -> SendEmailResult:
        self.escalations.append((data, activity.info().current_attempt_scheduled_time))
        return SendEmailResult(outcome=SendOutcome.sent, message_id="<e@x>", attempt=1)

    @activity.defn(name="record_status")
    async def record_status(self, data: RecordStatusInput) -> None:
        self.statuses.append(data.status)

    @activity.defn(name="send_invitation")
    async def send_invitation(self, data: SendInvitationInput) -> SendEmailResult:
        self.emails.append(data)
        # The server's clock when the send was scheduled: time-skipping time, not wall time.
        when = activity.info().current_attempt_scheduled_time
        self.sent_at.append((data.purpose.value, data.sequence, data.reminder, when))
        outcome = self.outcomes.pop(0) if self.outcomes else self.email_outcome
        if self.auto_accept and data.purpose == InvitationPurpose.invitation:
            # The director clicks at once: what the API does after checking the token.
            workflow_id = activity.info().workflow_id
            assert workflow_id is not None
            handle = activity.client().get_workflow_handle(workflow_id)
            await handle.signal("accept_invitation", AcceptInvitationInput(sequence=data.sequence))
        return SendEmailResult(outcome=outcome, message_id="<m@x>", attempt=activity.info().attempt)

    def main(self) -> list[Callable[..., Any]]:
        return [
            self.resolve_setup,
            self.check_siret_available,
            self.lookup_enterprise,
            self.check_vat,
            self.create_client,
            self.create_folders,
            self.assign,
            self.connect_integration,
            self.record_integration_failure,
            self.complete_setup,
            self.record_status,
            self.set_notifications,
            self.record_invitation,
            self.escalate,
            self.assign_checklist,
            self.send_invitation,
            self.notify_collaborators,
        ]


def make_input(**changes: Any) -> OnboardingInput:
    data = OnboardingInput(
        onboarding_id=uuid.uuid4(),
        partner_id=uuid.uuid4(),
        partner_name="Firm",
        client=ClientIn(
            first_name="Antoine",
            last_name="Martin",
            email="a@example.com",
            language=Language.fr,
            siret="55203253400646",
        ),
        fiscal_year=FiscalYear.from_start(date(2026, 1, 1)),
        director=DirectorIn(email="d@example.com", first_name="D", last_name="Irector"),
        timeouts=Timeouts(
            company_lookup=timedelta(minutes=2),
            company_details=timedelta(days=2),
            integration_retry_window=timedelta(days=1),
        ),
    )
    return data.model_copy(update=changes)


class Run:
    def __init__(self, env: WorkflowEnvironment, fakes: Fakes) -> None:
        self.env = env
        self.fakes = fakes
        self.queue = f"wf-{uuid.uuid4().hex[:8]}"

    async def __aenter__(self) -> Run:
        # The environment's own client: only it skips time while awaiting a result. It carries
        # the project's data converter, passed in by the fixture.
        client = self.env.client
        self._main = Worker(
            client,
            task_queue=self.queue,
            workflows=[OnboardingWorkflow],
            activities=self.fakes.main(),
            workflow_runner=WORKFLOW_RUNNER,
            interceptors=[DataErrorsAreFinal()],
        )
        self._registry = Worker(
            client, task_queue=f"{self.queue}-registry", activities=[self.fakes.lookup_company]
        )
        await self._main.__aenter__()
        await self._registry.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._registry.__aexit__(None, None, None)
        await self._main.__aexit__(None, None, None)

    async def start(
        self, data: OnboardingInput
    ) -> WorkflowHandle[OnboardingWorkflow, OnboardingView]:
        data = data.model_copy(update={"registry_task_queue": f"{self.queue}-registry"})
        return await self.env.client.start_workflow(
            OnboardingWorkflow.run,
            data,
            id=f"onboarding-{data.onboarding_id}",
            task_queue=self.queue,
        )


async def wait_for_status(
    handle: WorkflowHandle[OnboardingWorkflow, OnboardingView], status: OnboardingStatus
) -> OnboardingView:
    view: OnboardingView | None = None
    for _ in range(200):
        view = await handle.query(OnboardingWorkflow.status)
        if view.status == status:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached {status}: {view}")


async def test_registry_found_completes_with_company(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The registry knows the SIRET: its data names the client and every step completes."""
    fakes = Fakes()
    fakes.user_ids = [uuid.uuid4()]
    async with Run(time_skipping_env, fakes) as run:
        view = await (await run.start(make_input())).result()
    assert view.status == OnboardingStatus.COMPLETED
    assert fakes.created[0].company_name == "DANONE"
    assert fakes.created[0].siret == "55203253400646"
    assert {s.name.value: s.state for s in view.steps}["company_lookup"] == StepState.completed
    assert fakes.statuses == ["READY", "COMPLETED"]
    assert fakes.projected == []  # sent at once then accepted: the list derives it, no write
    [notice] = fakes.collaborator_notices  # the firm is told, even though the client is muted
    assert (notice.client_name, notice.folder_count) == ("DANONE", 14)
    assert fakes.emails[0].client_id is not None  # client-facing: held back while muted


async def test_unknown_siret_waits_for_company_details(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Unknown to the registry: AWAITING_COMPANY_DETAILS until a person gives the details."""
    fakes = Fakes()
    fakes.registry = lambda attempt: LookupCompanyResult(company=None, attempt=attempt)
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        view = await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        step = next(s for s in view.steps if s.name.value == "company_lookup")
        assert step.state == StepState.waiting and "unknown" in (step.detail or "")
        assert view.waiting_for and "provide_company_details" in view.waiting_for
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details,
            CompanyDetails(name="Boulangerie Martin", city="Lyon"),
        )
        view = await handle.result()
    assert view.status == OnboardingStatus.COMPLETED
    assert fakes.created[0].company_name == "Boulangerie Martin"
    assert fakes.statuses == ["AWAITING_COMPANY_DETAILS", "SETTING_UP", "READY", "COMPLETED"]


async def test_company_details_refused_when_not_waiting(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The update's validator refuses details nobody asked for, and nothing changes."""
    fakes = Fakes()
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input(invitation_mode=InvitationMode.manual))
        await wait_for_status(handle, OnboardingStatus.READY)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                OnboardingWorkflow.provide_company_details, CompanyDetails(name="Late")
            )
        assert "not waiting for company details" in str(refused.value.cause)
        await handle.execute_update(OnboardingWorkflow.send_invitation_now)
        await handle.result()


async def test_rate_limit_storm_is_waited_out(time_skipping_env: WorkflowEnvironment) -> None:
    """Six 429s in a row, each with Retry-After: the lookup waits and then succeeds."""
    fakes = Fakes()

    def storm(attempt: int) -> LookupCompanyResult:
        if attempt <= 6:
            raise ApplicationError(
                "429", type="RegistryRateLimited", next_retry_delay=timedelta(seconds=3)
            )
        return LookupCompanyResult(company=DANONE, attempt=attempt)

    fakes.registry = storm
    async with Run(time_skipping_env, fakes) as run:
        view = await (await run.start(make_input())).result()
    assert view.status == OnboardingStatus.COMPLETED
    assert fakes.registry_calls == 7
    lookup = next(s for s in view.steps if s.name.value == "company_lookup")
    assert lookup.attempts == 7


async def test_registry_down_past_deadline_asks_for_details(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A registry down for longer than the lookup deadline hands over to a person."""
    fakes = Fakes()

    def down(attempt: int) -> LookupCompanyResult:
        raise ApplicationError("503 from registry", type="RegistryUnavailable")

    fakes.registry = down
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        # Jump past the 2-minute lookup deadline (queries alone do not move test time).
        await time_skipping_env.sleep(timedelta(minutes=3))
        view = await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        lookup = next(s for s in view.steps if s.name.value == "company_lookup")
        assert "unreachable" in (lookup.detail or "")
        assert fakes.registry_calls > 1
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details,
            CompanyDetails(name="DANONE", siret="55203253400646"),
        )
        view = await handle.result()
    assert view.status == OnboardingStatus.COMPLETED
    assert fakes.created[0].siret == "55203253400646"


async def test_details_never_given_fails_with_reason(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Nobody answers within the configured time: the onboarding fails and says why."""
    fakes = Fakes()
    fakes.registry = lambda attempt: LookupCompanyResult(company=None, attempt=attempt)
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert "no company details provided within 2 days" in str(failed.value.cause)
    assert fakes.statuses == ["AWAITING_COMPANY_DETAILS", "FAILED"]


async def test_closed_company_waits_for_details(time_skipping_env: WorkflowEnvironment) -> None:
    """A ceased company is not onboarded from registry data: a person must confirm."""
    fakes = Fakes()
    closed = DANONE.model_copy(update={"active": False})
    fakes.registry = lambda attempt: LookupCompanyResult(company=closed, attempt=attempt)
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        view = await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        assert "closed" in (view.waiting_for or "")
        await handle.terminate("test over")


async def test_duplicate_siret_waits_before_and_at_creation(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A SIRET already used (found before lookup, or taken meanwhile) waits for details."""
    fakes = Fakes()
    fakes.siret_available = False
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        view = await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        assert "already used" in (view.waiting_for or "")
        assert fakes.registry_calls == 0  # no lookup for a number we cannot use anyway
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details, CompanyDetails(name="Other entity")
        )
        assert (await handle.result()).status == OnboardingStatus.COMPLETED

    race = Fakes()
    race.duplicate_on_create = 1
    async with Run(time_skipping_env, race) as run:
        handle = await run.start(make_input())
        await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details, CompanyDetails(name="Second try")
        )
        view = await handle.result()
    assert view.status == OnboardingStatus.COMPLETED
    assert race.created[0].company_name == "Second try"


async def test_failing_integration_is_recorded_then_retried(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """One app fails after its retries: recorded, the others connect, setup completes; a
    retry_integration update then connects it and the onboarding completes."""
    fakes = Fakes()
    fakes.integrations = [
        EffectiveIntegration(code="bank", kind=IntegrationKind.automation, settings={}),
        EffectiveIntegration(code="portal", kind=IntegrationKind.redirection, settings={}),
    ]
    fakes.integration_failures = {"bank": 5}  # every attempt of the first round
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        await time_skipping_env.sleep(timedelta(minutes=5))  # past the retries' backoff
        view = await wait_for_status(handle, OnboardingStatus.READY)
        for _ in range(100):
            view = await handle.query(OnboardingWorkflow.status)
            if view.waiting_for:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(view)
        states = {i.code: i.state for i in view.integrations}
        assert states == {"bank": StepState.failed, "portal": StepState.completed}
        assert "503" in (next(i for i in view.integrations if i.code == "bank").last_error or "")
        assert fakes.recorded_failures == ["bank"]
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                OnboardingWorkflow.retry_integration, RetryIntegrationInput(code="portal")
            )
        retried = await handle.execute_update(
            OnboardingWorkflow.retry_integration, RetryIntegrationInput(code="bank")
        )
        assert retried.state == StepState.completed
        view = await handle.result()
    assert view.status == OnboardingStatus.COMPLETED
    assert fakes.connect_calls == {"bank": 6, "portal": 1}


async def test_the_setups_checklist_is_assigned_before_the_invitation(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    fakes.checklist_id = uuid.uuid4()
    async with Run(time_skipping_env, fakes) as run:
        view = await (await run.start(make_input())).result()
    [assigned] = fakes.assigned
    assert assigned.checklist_id == fakes.checklist_id and assigned.client_id == view.client_id
    setup_done = next(s for s in view.steps if s.name.value == "complete_setup")
    assert setup_done.detail is not None
    assert setup_done.detail.endswith("; checklist of 3 item(s) assigned")
    assert view.status == OnboardingStatus.COMPLETED


async def test_a_checklist_gone_from_the_catalog_is_noted_not_fatal(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    fakes.checklist_id = uuid.uuid4()
    fakes.checklist_gone = True
    async with Run(time_skipping_env, fakes) as run:
        view = await (await run.start(make_input())).result()
    assert len(fakes.assigned) == 1  # not retried: a person has to choose another
    missing = f"checklist {fakes.checklist_id} is not in the partner's catalog"
    assert view.notices_not_sent == [f"checklist: ChecklistMissing: {missing}"]
    assert view.status == OnboardingStatus.COMPLETED


async def test_no_checklist_in_the_setup_assigns_nothing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    async with Run(time_skipping_env, fakes) as run:
        await (await run.start(make_input())).result()
    assert fakes.assigned == []


async def test_collaborators_are_told_once_the_client_is_ready(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    fakes.user_ids = [uuid.uuid4(), uuid.uuid4()]
    async with Run(time_skipping_env, fakes) as run:
        view = await (await run.start(make_input())).result()
    [notice] = fakes.collaborator_notices
    assert notice.user_ids == fakes.user_ids and notice.onboarding_id == view.onboarding_id
    setup_done = next(s for s in view.steps if s.name.value == "complete_setup")
    assert setup_done.detail == "notifications on; 2 collaborator(s) told"


async def test_a_setup_without_collaborators_tells_nobody(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """No collaborator, no notice: no activity (nor the workflow task after it) for an empty list,
    and the step says so."""
    fakes = Fakes()
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        view = await handle.result()
        scheduled = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            async for e in handle.fetch_history_events()
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
    assert fakes.collaborator_notices == []
    assert "notify_collaborators" not in scheduled
    setup_done = next(s for s in view.steps if s.name.value == "complete_setup")
    assert setup_done.detail == "notifications on; no collaborator to tell"
    assert view.status == OnboardingStatus.COMPLETED


def belgian_input(**changes: Any) -> OnboardingInput:
    """A Belgian client: an enterprise number and no SIRET."""
    data = make_input()
    client = data.client.model_copy(update={"siret": None, "enterprise_number": "0202239951"})
    return data.model_copy(update={"client": client, **changes})


async def test_belgian_client_found_in_kbo_is_created_with_its_company(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """An enterprise number without SIRET is looked up in the KBO (not the French registry):
    the client is created with the KBO company and the normalised number; the step names the
    register and the extract's date."""
    fakes = Fakes()
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(belgian_input())
        await handle.result()
        view = await handle.query(OnboardingWorkflow.status)
    assert fakes.registry_calls == 0
    assert [(c.enterprise_number, c.language) for c in fakes.kbo_calls] == [("0202239951", "fr")]
    (created,) = fakes.created
    assert (created.company_name, created.enterprise_number, created.siret) == (
        "Proximus",
        "0202239951",
        None,
    )
    step = next(s for s in view.steps if s.name == Step.company_lookup)
    assert step.state == StepState.completed
    assert step.detail is not None and "2026-11-27" in step.detail and "KBO/BCE" in step.detail


async def test_belgian_client_stale_or_unknown_in_kbo_waits_with_a_warning(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Unknown to a 60-day-old extract: the onboarding waits for company details and its status
    warns that the extract is stale."""
    fakes = Fakes()
    fakes.kbo = lambda attempt: LookupEnterpriseResult(
        available=True,
        company=None,
        extract_date=date(2026, 10, 1),
        extract_age_days=60,
        stale=True,
        attempt=attempt,
    )
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(belgian_input())
        await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        view = await handle.query(OnboardingWorkflow.status)
        await handle.terminate("test over")
    assert view.warnings == [
        "the KBO/BCE extract is 60 days old: the company data may be out of date"
    ]
    assert view.waiting_for is not None and "unknown to the KBO/BCE" in view.waiting_for


async def test_belgian_company_vat_checked_in_vies_valid_or_unchecked_never_fails(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """VIES's answer is recorded on the company (valid here); VIES unavailable on every attempt
    leaves it unchecked with the reason, after a few attempts, and the onboarding still
    completes; an invalid number is recorded as such and completes too."""
    outcomes = {}
    for valid in (True, None, False):
        fakes = Fakes()
        fakes.vies_valid = valid
        async with Run(time_skipping_env, fakes) as run:
            handle = await run.start(belgian_input())
            await handle.result()
            view = await handle.query(OnboardingWorkflow.status)
        assert view.company is not None and view.company.vat_check is not None
        outcomes[valid] = (view.company.vat_check, fakes.vies_calls, fakes.created[0].company)
    checked, calls, stored = outcomes[True]
    assert (checked.state, checked.vat_number, checked.name, calls) == (
        "valid",
        "BE0202239951",
        "Proximus",
        1,
    )
    assert stored is not None and stored["vat_check"]["state"] == "valid"
    unchecked, calls, _ = outcomes[None]
    assert unchecked.state == "unchecked" and calls == 5
    assert unchecked.reason == "ViesUnavailable: VIES unavailable: MS_UNAVAILABLE"
    assert outcomes[False][0].state == "invalid"


async def test_belgian_client_unknown_in_kbo_created_with_the_details_given_by_hand(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Unknown to the KBO: the details given by hand name the client, and the enterprise number
    they give (a corrected one) is the client's."""
    fakes = Fakes()
    fakes.kbo = lambda attempt: LookupEnterpriseResult(
        available=True, company=None, extract_date=date(2026, 11, 27), attempt=attempt
    )
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(belgian_input())
        await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details,
            CompanyDetails(name="Peeters BV", enterprise_number="BE 0214.596.464"),
        )
        await handle.result()
    (created,) = fakes.created
    assert (created.company_name, created.enterprise_number) == ("Peeters BV", "0214596464")
    assert fakes.vies_calls == 0  # nothing found in the KBO: no VAT number to check


async def test_french_client_vat_number_given_is_checked_in_vies(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A VAT number given with a SIRET is checked in VIES once the registry found the company
    (its country code and number apart); without one, VIES is not asked."""
    fakes = Fakes()
    fakes.vies_valid = False
    async with Run(time_skipping_env, fakes) as run:
        client = make_input().client.model_copy(update={"vat_number": "FR40303265045"})
        handle = await run.start(make_input(client=client))
        await handle.result()
        view = await handle.query(OnboardingWorkflow.status)
        plain = await run.start(make_input())
        await plain.result()
    assert [(a.country_code, a.vat_number) for a in fakes.vies_asked] == [("FR", "40303265045")]
    assert view.company is not None and view.company.vat_check is not None
    assert (view.company.vat_check.vat_number, view.company.vat_check.state) == (
        "FR40303265045",
        "invalid",
    )
