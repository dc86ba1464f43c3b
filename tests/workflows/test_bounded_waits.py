"""Waits bounded by continue-as-new (patch bounded-waits), under the time-skipping server: an
onboarding that waits past its maximum run age (an unmute, a manual send, its scheduled time, a
cancelled invitation, its director, a resend) continues as new with its state, the next run goes
on from the same wait, and the invitation can still be sent. A step parked in NEEDS_ATTENTION
(patch bounded-attention: folders, the checklist, an integration's failure record, the
invitation's send) continues as new still parked, and a resume of the latest run goes on from
that step without redoing the ones before. No run is older than the bound, so every workflow
patch can retire on a known date (workflows/patches.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.clients import CreateClientInput, CreateClientResult
from activities.company_checks import CheckSiretInput, CheckSiretResult
from activities.email import SendEmailResult
from activities.integrations import RecordIntegrationFailureInput
from activities.invitations import SendInvitationInput
from activities.registry import LookupCompanyResult
from activities.setup import ResolveSetupInput, ResolveSetupResult
from domain import search_attributes as sa
from domain.onboarding import (
    AcceptInvitationInput,
    CompanyDetails,
    InvitationState,
    OnboardingInput,
    OnboardingStatus,
    OnboardingView,
    SetNotificationsInput,
    Step,
    StepState,
)
from domain.setup import EffectiveIntegration, IntegrationKind, InvitationMode
from tests.workflow_helpers import (
    ChecklistDown,
    Fakes,
    FoldersDown,
    Run,
    _runs,
    make_input,
    skip_until_parked,
    wait_for_status,
)
from workflows.onboarding import OnboardingWorkflow

Handle = WorkflowHandle[OnboardingWorkflow, OnboardingView]
MAX_AGE = timedelta(days=5)


def _bounded(**changes: object) -> OnboardingInput:
    data = make_input(**changes)
    return data.model_copy(
        update={"timeouts": data.timeouts.model_copy(update={"max_run_age": MAX_AGE})}
    )


async def _started(run: Run, data: OnboardingInput) -> tuple[Handle, Handle]:
    """The first run's handle, and one that follows the onboarding to its latest run."""
    first = await run.start(data)
    return first, run.env.client.get_workflow_handle_for(OnboardingWorkflow.run, first.id)


async def _run_count(env: WorkflowEnvironment, first: Handle) -> int:
    assert first.first_execution_run_id is not None
    return len(await _runs(env.client, first.id, first.first_execution_run_id))


async def _state_intact(latest: Handle, fakes: Fakes, status: OnboardingStatus) -> OnboardingView:
    """The latest run reports what the first knew: the client, every setup step done, the
    status; and set nothing up again."""
    view = await wait_for_status(latest, status)
    assert view.client_id is not None and view.setup is not None
    assert view.company is not None and view.company.name == "DANONE"
    done = {s.name for s in view.steps if s.state == StepState.completed}
    assert {Step.resolve_setup, Step.create_client, Step.folders, Step.complete_setup} <= done
    assert len(fakes.created) == 1
    return view


async def test_manual_invitation_waiting_past_the_bound_continues_as_new_and_is_sent(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Twelve days waiting for send-now with a 5-day bound: three runs, the same onboarding,
    still waiting for someone; send-now then sends it once."""
    env, fakes = time_skipping_env, Fakes()
    async with Run(env, fakes) as run:
        first, latest = await _started(run, _bounded(invitation_mode=InvitationMode.manual))
        await wait_for_status(latest, OnboardingStatus.READY)
        await env.sleep(timedelta(days=12))
        assert await _run_count(env, first) == 3
        view = await _state_intact(latest, fakes, OnboardingStatus.READY)
        assert view.invitation.state == InvitationState.waiting_manual
        assert view.waiting_for and "send_invitation_now" in view.waiting_for
        assert fakes.emails == []
        # Ops still find it by its status: the search attributes went over with the state.
        # (Read raw: the test server's datetime attributes do not decode in the SDK.)
        described = await env.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=first.id)
            )
        )
        fields = described.workflow_execution_info.search_attributes.indexed_fields
        assert fields[sa.ONBOARDING_STATUS.name].data == b'"READY"'
        assert fields[sa.INVITATION_MODE.name].data == b'"manual"'
        await latest.execute_update(OnboardingWorkflow.send_invitation_now)
        final = await first.result()
    assert final.status == OnboardingStatus.COMPLETED
    assert [(p, seq) for p, seq, _, _ in fakes.sent_at] == [("invitation", 1)]
    # The invitation's projection was written once, not again by each run.
    assert fakes.projected == [("waiting_manual", None), (None, None)]


async def test_muted_client_waiting_past_the_bound_continues_as_new_then_unmute_sends(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, fakes = time_skipping_env, Fakes()
    async with Run(env, fakes) as run:
        first, latest = await _started(run, _bounded(keep_muted=True))
        await wait_for_status(latest, OnboardingStatus.WAITING_FOR_UNMUTE)
        await env.sleep(timedelta(days=6))
        assert await _run_count(env, first) == 2
        view = await _state_intact(latest, fakes, OnboardingStatus.WAITING_FOR_UNMUTE)
        assert view.notifications_muted and view.invitation.state == InvitationState.muted
        await latest.execute_update(
            OnboardingWorkflow.set_notifications, SetNotificationsInput(enabled=True)
        )
        final = await first.result()
    assert fakes.switched == [False]  # the row muted at setup, unmuted once by the later run
    assert [(p, seq) for p, seq, _, _ in fakes.sent_at] == [("invitation", 1)]
    assert final.status == OnboardingStatus.COMPLETED and not final.notifications_muted


async def test_scheduled_past_the_bound_continues_as_new_and_is_sent_at_its_time(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Scheduled in 12 days, bound 5: sent at its time by the third run, not before."""
    env, fakes = time_skipping_env, Fakes()
    at = await env.get_current_time() + timedelta(days=12)
    async with Run(env, fakes) as run:
        first, latest = await _started(
            run, _bounded(invitation_mode=InvitationMode.scheduled, invitation_scheduled_at=at)
        )
        await wait_for_status(latest, OnboardingStatus.READY)
        await env.sleep(timedelta(days=11))
        assert fakes.emails == []
        view = await _state_intact(latest, fakes, OnboardingStatus.READY)
        assert view.invitation.state == InvitationState.scheduled
        assert view.invitation.scheduled_at == at
        final = await first.result()
        assert await _run_count(env, first) == 3
    [(purpose, _, _, sent)] = fakes.sent_at
    assert purpose == "invitation" and at <= sent < at + timedelta(minutes=1)
    assert final.invitation.state == InvitationState.accepted


async def test_cancelled_invitation_past_the_bound_continues_as_new_and_send_now_sends(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, fakes = time_skipping_env, Fakes()
    at = await env.get_current_time() + timedelta(days=2)
    async with Run(env, fakes) as run:
        first, latest = await _started(
            run, _bounded(invitation_mode=InvitationMode.scheduled, invitation_scheduled_at=at)
        )
        await wait_for_status(latest, OnboardingStatus.READY)
        await latest.execute_update(OnboardingWorkflow.cancel_invitation)
        await env.sleep(timedelta(days=6))
        assert await _run_count(env, first) == 2
        view = await _state_intact(latest, fakes, OnboardingStatus.READY)
        assert view.invitation.state == InvitationState.cancelled and fakes.emails == []
        await latest.execute_update(OnboardingWorkflow.send_invitation_now)
        final = await first.result()
    assert [(p, seq) for p, seq, _, _ in fakes.sent_at] == [("invitation", 1)]
    assert final.invitation.state == InvitationState.accepted


async def test_waiting_for_the_director_past_the_bound_keeps_reminders_and_acceptance(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Sent, not accepted: the runs continue as new at 5 and 10 days; each reminder goes once,
    at its day; the director's acceptance of the first invitation reaches the third run."""
    env, fakes = time_skipping_env, Fakes()
    fakes.auto_accept = False
    async with Run(env, fakes) as run:
        first, latest = await _started(run, _bounded())
        await wait_for_status(latest, OnboardingStatus.READY)
        await env.sleep(timedelta(days=11))
        assert await _run_count(env, first) == 3
        view = await _state_intact(latest, fakes, OnboardingStatus.READY)
        assert view.invitation.state == InvitationState.sent
        assert view.invitation.reminders_sent == 2
        await latest.signal(OnboardingWorkflow.accept_invitation, AcceptInvitationInput(sequence=1))
        final = await first.result()
    sent = [(p, seq, r) for p, seq, r, _ in fakes.sent_at]
    assert sent == [("invitation", 1, 0), ("reminder", 1, 1), ("reminder", 1, 2)]
    assert final.invitation.state == InvitationState.accepted


async def test_expired_invitation_waiting_for_a_resend_past_the_bound_is_resent(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Expired at 14 days, then waiting for resend_invitation across runs; the resend sends
    invitation 2, whose acceptance completes the onboarding."""
    env, fakes = time_skipping_env, Fakes()
    fakes.auto_accept = False
    async with Run(env, fakes) as run:
        first, latest = await _started(run, _bounded())
        await wait_for_status(latest, OnboardingStatus.READY)
        await env.sleep(timedelta(days=21))
        assert await _run_count(env, first) == 5
        view = await _state_intact(latest, fakes, OnboardingStatus.READY)
        assert view.invitation.state == InvitationState.expired
        await latest.execute_update(OnboardingWorkflow.resend_invitation)
        await env.sleep(timedelta(hours=1))
        await latest.signal(OnboardingWorkflow.accept_invitation, AcceptInvitationInput(sequence=2))
        final = await first.result()
    purposes = [(p, seq) for p, seq, _, _ in fakes.sent_at]
    assert purposes == [
        ("invitation", 1),
        ("reminder", 1),
        ("reminder", 1),
        ("expired", 1),
        ("invitation", 2),
    ]
    assert final.invitation.sequence == 2 and final.status == OnboardingStatus.COMPLETED


class SetupCounted(FoldersDown):
    """create_folders down until `up` (FoldersDown), and the steps before it counted: a step
    done before the park must not run again in a later run."""

    def __init__(self) -> None:
        super().__init__()
        self.resolved = 0
        self.checked = 0

    @activity.defn(name="resolve_setup")
    async def resolve_setup(self, data: ResolveSetupInput) -> ResolveSetupResult:
        self.resolved += 1
        return await super().resolve_setup(data)

    @activity.defn(name="check_siret_available")
    async def check_siret_available(self, data: CheckSiretInput) -> CheckSiretResult:
        self.checked += 1
        return await super().check_siret_available(data)


async def test_step_parked_past_the_bound_continues_as_new_still_parked_then_resumes(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Folders outlast their retries and the onboarding waits in NEEDS_ATTENTION for twelve
    days with a 5-day bound: three runs, each parked on the same step with its last error;
    a resume on the latest runs folders again and only them, and the onboarding ends."""
    env, fakes = time_skipping_env, SetupCounted()
    async with Run(env, fakes) as run:
        first, latest = await _started(run, _bounded())
        parked = await skip_until_parked(env, first)
        assert parked.status == OnboardingStatus.NEEDS_ATTENTION, parked
        attempts_when_parked = fakes.folder_attempts
        await env.sleep(timedelta(days=12))
        assert await _run_count(env, first) == 3
        view = await latest.query(OnboardingWorkflow.status)
        assert view.status == OnboardingStatus.NEEDS_ATTENTION
        assert view.waiting_for and "folders" in view.waiting_for
        assert view.waiting_for == parked.waiting_for
        folders = next(s for s in view.steps if s.name == Step.folders)
        assert folders == next(s for s in parked.steps if s.name == Step.folders)
        assert folders.state == StepState.waiting
        assert folders.last_error == "ConnectionRefusedError (see the worker's log)"
        assert view.client_id == parked.client_id is not None
        # Parked means parked, in every run: nothing tried again, nothing set up again.
        assert fakes.folder_attempts == attempts_when_parked
        assert (fakes.resolved, fakes.checked, fakes.registry_calls) == (1, 1, 1)
        assert len(fakes.created) == 1
        fakes.up = True
        resumed = await latest.execute_update(OnboardingWorkflow.resume)
        assert resumed.step == Step.folders
        final = await first.result()
    assert fakes.folder_attempts == attempts_when_parked + 1
    assert (fakes.resolved, fakes.checked, fakes.registry_calls) == (1, 1, 1)
    assert len(fakes.created) == 1
    assert final.status == OnboardingStatus.COMPLETED and final.waiting_for is None
    assert {s.name: s.state for s in final.steps}[Step.folders] == StepState.completed
    assert [(p, seq) for p, seq, _, _ in fakes.sent_at] == [("invitation", 1)]
    # The database heard NEEDS_ATTENTION once, from the run that parked; then the rest.
    assert fakes.statuses == ["NEEDS_ATTENTION", "SETTING_UP", "READY", "COMPLETED"]


class InvitationDown(Fakes):
    """SMTP unreachable for the invitation until `up`: every attempt's sequence is kept."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False
        self.tried: list[int] = []

    @activity.defn(name="send_invitation")
    async def send_invitation(self, data: SendInvitationInput) -> SendEmailResult:
        self.tried.append(data.sequence)
        if not self.up:
            raise ConnectionRefusedError("connection refused")
        return await super().send_invitation(data)


async def test_invitation_send_parked_past_the_bound_is_sent_once_with_its_sequence(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The invitation's send outlasts its retries after setup, parks, and the run continues as
    new: the next run waits parked on the invitation, a resume sends invitation 1 (not a new
    sequence, which could reach the director twice), and the setup is not redone."""
    env, fakes = time_skipping_env, InvitationDown()
    async with Run(env, fakes) as run:
        first, latest = await _started(run, _bounded())
        await env.sleep(timedelta(hours=6))  # SMTP_RETRY's attempts, hours apart at the end
        parked = await wait_for_status(first, OnboardingStatus.NEEDS_ATTENTION)
        assert {s.name: s.state for s in parked.steps}[Step.invitation] == StepState.waiting
        tried_when_parked = len(fakes.tried)
        await env.sleep(timedelta(days=6))
        assert await _run_count(env, first) == 2
        view = await _state_intact(latest, fakes, OnboardingStatus.NEEDS_ATTENTION)
        assert view.waiting_for == parked.waiting_for and view.invitation == parked.invitation
        assert len(fakes.tried) == tried_when_parked
        fakes.up = True
        await latest.execute_update(OnboardingWorkflow.resume)
        final = await first.result()
    assert set(fakes.tried) == {1} and len(fakes.tried) == tried_when_parked + 1
    assert [(p, seq) for p, seq, _, _ in fakes.sent_at] == [("invitation", 1)]
    assert final.status == OnboardingStatus.COMPLETED
    assert final.invitation.state == InvitationState.accepted
    assert fakes.statuses == ["READY", "NEEDS_ATTENTION", "READY", "COMPLETED"]


async def test_checklist_parked_past_the_bound_does_not_complete_the_setup_twice(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The checklist parks after complete_setup ran: the next run assigns it on resume without
    running complete_setup again, gives back READY (the park had written NEEDS_ATTENTION; not
    SETTING_UP on the way, patch park-resume-times) and leaves complete_setup completed."""
    env, fakes = time_skipping_env, ChecklistDown()
    async with Run(env, fakes) as run:
        first, latest = await _started(run, _bounded())
        parked = await skip_until_parked(env, first)
        assert parked.status == OnboardingStatus.NEEDS_ATTENTION, parked
        await env.sleep(timedelta(days=6))
        assert await _run_count(env, first) == 2
        view = await wait_for_status(latest, OnboardingStatus.NEEDS_ATTENTION)
        assert {s.name: s.state for s in view.steps}[Step.complete_setup] == StepState.waiting
        fakes.up = True
        await latest.execute_update(OnboardingWorkflow.resume)
        final = await first.result()
    assert fakes.setup_muted == [False]  # complete_setup ran once, in the first run
    assert [a.checklist_id for a in fakes.assigned] == [fakes.checklist_id]
    assert [(p, seq) for p, seq, _, _ in fakes.sent_at] == [("invitation", 1)]
    assert fakes.statuses == ["READY", "NEEDS_ATTENTION", "READY", "COMPLETED"]
    assert {s.name: s.state for s in final.steps}[Step.complete_setup] == StepState.completed
    assert final.status == OnboardingStatus.COMPLETED


class FailureRecordDown(Fakes):
    """record_integration_failure (a local activity) fails until `up`: a failed integration's
    record parks the onboarding on the integrations step."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False

    @activity.defn(name="record_integration_failure")
    async def record_integration_failure(self, data: RecordIntegrationFailureInput) -> None:
        if not self.up:
            raise ConnectionRefusedError("connection refused")
        await super().record_integration_failure(data)


async def test_integrations_parked_past_the_bound_connect_again_only_the_unconnected(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """bank fails its five attempts and its failure cannot be recorded: parked on integrations,
    then past the bound in a new run. The resume connects bank again (it answers now) and
    leaves portal, connected in the first run, alone."""
    env, fakes = time_skipping_env, FailureRecordDown()
    fakes.integrations = [
        EffectiveIntegration(code="bank", kind=IntegrationKind.automation, settings={}),
        EffectiveIntegration(code="portal", kind=IntegrationKind.redirection, settings={}),
    ]
    fakes.integration_failures = {"bank": 5}  # every attempt of the first round
    async with Run(env, fakes) as run:
        first, latest = await _started(run, _bounded())
        parked = await skip_until_parked(env, first)
        assert parked.status == OnboardingStatus.NEEDS_ATTENTION, parked
        await env.sleep(timedelta(days=6))
        assert await _run_count(env, first) == 2
        view = await wait_for_status(latest, OnboardingStatus.NEEDS_ATTENTION)
        assert {i.code: i.state for i in view.integrations} == {
            "bank": StepState.failed,
            "portal": StepState.completed,
        }
        fakes.up = True
        await latest.execute_update(OnboardingWorkflow.resume)
        final = await first.result()
    assert fakes.connect_calls == {"bank": 6, "portal": 1}
    assert len(fakes.created) == 1 and fakes.recorded_failures == []
    assert {i.code: i.state for i in final.integrations} == {
        "bank": StepState.completed,
        "portal": StepState.completed,
    }
    assert {s.name: s.state for s in final.steps}[Step.integrations] == StepState.completed
    assert [(p, seq) for p, seq, _, _ in fakes.sent_at] == [("invitation", 1)]
    assert final.status == OnboardingStatus.COMPLETED


class CreateClientDown(Fakes):
    """The registry does not know the SIRET, and create_client (a local activity) fails as an
    unreachable PostgreSQL does until `up`."""

    def __init__(self) -> None:
        super().__init__()
        self.registry = lambda attempt: LookupCompanyResult(company=None, attempt=attempt)
        self.up = False

    @activity.defn(name="create_client")
    async def create_client(self, data: CreateClientInput) -> CreateClientResult:
        if not self.up:
            raise ConnectionRefusedError("connection refused")
        return await super().create_client(data)


async def test_client_creation_parked_past_the_bound_creates_it_from_the_details_given(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Company details given by hand, then the client's creation parks past the bound: the next
    run, resumed, creates the client from those details, without asking the registry again."""
    env, fakes = time_skipping_env, CreateClientDown()
    async with Run(env, fakes) as run:
        first, latest = await _started(run, _bounded())
        await wait_for_status(first, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        await first.execute_update(
            OnboardingWorkflow.provide_company_details,
            CompanyDetails(name="Boulangerie Martin", city="Lyon"),
        )
        parked = await skip_until_parked(env, first)
        assert parked.status == OnboardingStatus.NEEDS_ATTENTION, parked
        await env.sleep(timedelta(days=6))
        assert await _run_count(env, first) == 2
        view = await wait_for_status(latest, OnboardingStatus.NEEDS_ATTENTION)
        assert {s.name: s.state for s in view.steps}[Step.create_client] == StepState.waiting
        fakes.up = True
        await latest.execute_update(OnboardingWorkflow.resume)
        final = await first.result()
    [created] = fakes.created
    assert created.company_name == "Boulangerie Martin" and created.siret is None
    assert fakes.registry_calls == 1
    assert final.status == OnboardingStatus.COMPLETED
    assert [(p, seq) for p, seq, _, _ in fakes.sent_at] == [("invitation", 1)]
