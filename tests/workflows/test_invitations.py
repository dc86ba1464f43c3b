"""The director's invitation under the time-skipping server: immediate, scheduled, manual;
reschedule, cancel, send-now; reminders, expiry, resend; acceptance; never during setup."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.email import SendEmailResult
from activities.invitations import InvitationPurpose, SendInvitationInput
from activities.registry import LookupCompanyResult
from domain.onboarding import (
    AcceptInvitationInput,
    CompanyDetails,
    InvitationState,
    OnboardingStatus,
    OnboardingView,
    RescheduleInvitationInput,
)
from domain.setup import InvitationMode
from tests.eventually import eventually
from tests.workflow_helpers import Fakes, Run, make_input, wait_for_status
from workflows.onboarding import OnboardingWorkflow

Handle = WorkflowHandle[OnboardingWorkflow, OnboardingView]


async def _invitation_state(handle: Handle) -> InvitationState:
    return (await handle.query(OnboardingWorkflow.status)).invitation.state


async def test_scheduled_three_days_ahead_sends_then_and_not_before(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Nothing after two days; sent at the scheduled time, then accepted."""
    env = time_skipping_env
    fakes = Fakes()
    at = await env.get_current_time() + timedelta(days=3)
    async with Run(env, fakes) as run:
        handle = await run.start(
            make_input(invitation_mode=InvitationMode.scheduled, invitation_scheduled_at=at)
        )
        await wait_for_status(handle, OnboardingStatus.READY)
        await env.sleep(timedelta(days=2))
        assert fakes.emails == []
        assert await _invitation_state(handle) == InvitationState.scheduled
        view = await handle.result()
    [(purpose, sequence, _, sent)] = fakes.sent_at
    assert (purpose, sequence) == ("invitation", 1)
    assert at <= sent < at + timedelta(minutes=1)
    assert view.invitation.state == InvitationState.accepted
    assert view.status == OnboardingStatus.COMPLETED


async def test_reschedule_cancel_and_send_now(time_skipping_env: WorkflowEnvironment) -> None:
    """Rescheduled later, then cancelled: nothing is sent until send-now; the past is refused."""
    env = time_skipping_env
    fakes = Fakes()
    now = await env.get_current_time()
    async with Run(env, fakes) as run:
        handle = await run.start(
            make_input(
                invitation_mode=InvitationMode.scheduled,
                invitation_scheduled_at=now + timedelta(days=3),
            )
        )
        await wait_for_status(handle, OnboardingStatus.READY)
        moved = await handle.execute_update(
            OnboardingWorkflow.reschedule_invitation,
            RescheduleInvitationInput(scheduled_at=now + timedelta(days=5)),
        )
        assert moved.scheduled_at == now + timedelta(days=5)
        await env.sleep(timedelta(days=4))
        assert fakes.emails == []
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                OnboardingWorkflow.reschedule_invitation,
                RescheduleInvitationInput(scheduled_at=now + timedelta(days=1)),
            )
        assert "past" in str(refused.value.cause)
        cancelled = await handle.execute_update(OnboardingWorkflow.cancel_invitation)
        assert cancelled.state == InvitationState.cancelled
        await env.sleep(timedelta(days=3))
        assert fakes.emails == []
        await handle.execute_update(OnboardingWorkflow.send_invitation_now)
        view = await handle.result()
    assert [p for p, *_ in fakes.sent_at] == ["invitation"]
    assert view.invitation.state == InvitationState.accepted


async def test_manual_waits_until_send_now(time_skipping_env: WorkflowEnvironment) -> None:
    """A manual invitation waits, a month if need be, until someone sends it."""
    env = time_skipping_env
    fakes = Fakes()
    async with Run(env, fakes) as run:
        handle = await run.start(make_input(invitation_mode=InvitationMode.manual))
        await wait_for_status(handle, OnboardingStatus.READY)
        await env.sleep(timedelta(days=30))
        view = await handle.query(OnboardingWorkflow.status)
        assert fakes.emails == []
        assert view.invitation.state == InvitationState.waiting_manual
        assert view.waiting_for and "send_invitation_now" in view.waiting_for
        await handle.execute_update(OnboardingWorkflow.send_invitation_now)
        assert (await handle.result()).status == OnboardingStatus.COMPLETED
    assert len(fakes.emails) == 1


async def test_reminders_expiry_and_resend(time_skipping_env: WorkflowEnvironment) -> None:
    """Not accepted: reminders after 3 and 7 days, expiry after 14 with a notice; a resend
    sends a new invitation, whose acceptance completes the onboarding."""
    env = time_skipping_env
    fakes = Fakes()
    fakes.auto_accept = False
    start = await env.get_current_time()
    async with Run(env, fakes) as run:
        handle = await run.start(make_input())
        await wait_for_status(handle, OnboardingStatus.READY)
        await env.sleep(timedelta(hours=1))
        for refused_update in (
            OnboardingWorkflow.cancel_invitation,
            OnboardingWorkflow.send_invitation_now,
            OnboardingWorkflow.resend_invitation,
        ):
            with pytest.raises(WorkflowUpdateFailedError):  # sent, not expired: none applies
                await handle.execute_update(refused_update)
        await env.sleep(timedelta(days=15))
        sent = [(p, seq, r) for p, seq, r, _ in fakes.sent_at]
        assert sent == [
            ("invitation", 1, 0),
            ("reminder", 1, 1),
            ("reminder", 1, 2),
            ("expired", 1, 0),
        ]
        times = {(p, r): t - start for p, _, r, t in fakes.sent_at}
        assert timedelta(days=3) <= times[("reminder", 1)] < timedelta(days=3, minutes=5)
        assert timedelta(days=7) <= times[("reminder", 2)] < timedelta(days=7, minutes=5)
        assert timedelta(days=14) <= times[("expired", 0)] < timedelta(days=14, minutes=5)
        view = await handle.query(OnboardingWorkflow.status)
        assert view.invitation.state == InvitationState.expired
        await handle.execute_update(OnboardingWorkflow.resend_invitation)
        await env.sleep(timedelta(hours=1))
        assert fakes.sent_at[-1][:2] == ("invitation", 2)
        # An accept for the expired first invitation is ignored; the current one counts.
        await handle.signal(OnboardingWorkflow.accept_invitation, AcceptInvitationInput(sequence=1))
        assert await _invitation_state(handle) == InvitationState.sent
        await handle.signal(OnboardingWorkflow.accept_invitation, AcceptInvitationInput(sequence=2))
        view = await handle.result()
    assert view.invitation.state == InvitationState.accepted
    assert view.invitation.sequence == 2


async def test_scheduled_during_long_setup_sends_at_completion(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A time that falls while setup waits for company details sends once setup completes,
    never before: notifications are muted until then."""
    env = time_skipping_env
    fakes = Fakes()
    fakes.registry = lambda attempt: LookupCompanyResult(company=None, attempt=attempt)
    at = await env.get_current_time() + timedelta(hours=1)
    async with Run(env, fakes) as run:
        handle = await run.start(
            make_input(invitation_mode=InvitationMode.scheduled, invitation_scheduled_at=at)
        )
        await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        await env.sleep(timedelta(days=1))
        assert fakes.emails == []
        given = await env.get_current_time()
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details, CompanyDetails(name="Late Details SA")
        )
        await handle.result()
    [(purpose, _, _, sent)] = fakes.sent_at
    assert purpose == "invitation" and sent >= given


class HeldSends(Fakes):
    """Fakes whose invitation e-mails wait for `release` once `hold` is set: a send in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.sending = asyncio.Event()
        self.release = asyncio.Event()

    @activity.defn(name="send_invitation")
    async def send_invitation(self, data: SendInvitationInput) -> SendEmailResult:
        if self.hold and data.purpose == InvitationPurpose.invitation:
            self.sending.set()
            await self.release.wait()
        return await Fakes.send_invitation(self, data)


async def test_resend_twice_while_the_new_invitation_is_sent_is_refused(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A second resend (a double submit) while the new invitation is on its way is refused:
    accepted, it would leave a resend pending that fires by itself at the next expiry."""
    env = time_skipping_env
    fakes = HeldSends()
    fakes.auto_accept = False
    async with Run(env, fakes) as run:
        handle = await run.start(make_input())
        await wait_for_status(handle, OnboardingStatus.READY)
        await env.sleep(timedelta(days=15))
        assert await _invitation_state(handle) == InvitationState.expired
        fakes.hold = True
        await handle.execute_update(OnboardingWorkflow.resend_invitation)
        await asyncio.wait_for(fakes.sending.wait(), timeout=10)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(OnboardingWorkflow.resend_invitation)
        fakes.release.set()

        async def sent() -> bool:
            return await _invitation_state(handle) == InvitationState.sent

        await eventually(sent, what="the second invitation sent", within=5)
        await env.sleep(timedelta(days=15))  # the second invitation expires in its turn
        sequences = [seq for purpose, seq, _, _ in fakes.sent_at if purpose == "invitation"]
        assert sequences == [1, 2]
        assert await _invitation_state(handle) == InvitationState.expired
