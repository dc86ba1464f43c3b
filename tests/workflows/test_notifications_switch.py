"""The notifications switch (time-skipping server): a client kept muted waits visibly instead of
completing uninvited; switching its notifications on lets the invitation go according to its mode
(immediate, scheduled, manual); muting again holds the invitation back; nothing is sent to a muted
client."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.registry import LookupCompanyResult
from domain.onboarding import (
    CompanyDetails,
    InvitationState,
    OnboardingStatus,
    OnboardingView,
    SetNotificationsInput,
    Step,
    StepState,
)
from domain.setup import InvitationMode
from tests.workflow_helpers import Fakes, Run, make_input, wait_for_status
from workflows.onboarding import OnboardingWorkflow

Handle = WorkflowHandle[OnboardingWorkflow, OnboardingView]


async def _switch(handle: Handle, *, enabled: bool) -> None:
    changed = await handle.execute_update(
        OnboardingWorkflow.set_notifications, SetNotificationsInput(enabled=enabled)
    )
    assert changed.enabled is enabled


async def test_kept_muted_waits_visibly_then_unmute_sends_at_once(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Immediate mode: no e-mail while muted, whatever the time; switched on, it goes at once."""
    env = time_skipping_env
    fakes = Fakes()
    async with Run(env, fakes) as run:
        handle = await run.start(make_input(keep_muted=True))
        view = await wait_for_status(handle, OnboardingStatus.WAITING_FOR_UNMUTE)
        assert view.notifications_muted
        assert view.invitation.state == InvitationState.muted
        assert view.waiting_for and "notifications to be switched on" in view.waiting_for
        step = next(s for s in view.steps if s.name == Step.invitation)
        assert step.state == StepState.waiting
        # What the Temporal UI shows for the run: the status and what it waits for.
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        assert "**WAITING_FOR_UNMUTE**" in metadata.current_details
        assert "notifications to be switched on" in metadata.current_details
        await env.sleep(timedelta(days=30))
        assert fakes.emails == []
        assert (await handle.query(OnboardingWorkflow.status)).status == (
            OnboardingStatus.WAITING_FOR_UNMUTE
        )
        await _switch(handle, enabled=True)
        final = await handle.result()
    assert fakes.setup_muted == [True]
    assert fakes.switched == [False]
    assert [(p, seq) for p, seq, _, _ in fakes.sent_at] == [("invitation", 1)]
    assert final.status == OnboardingStatus.COMPLETED
    assert final.invitation.state == InvitationState.accepted
    assert not final.notifications_muted
    assert fakes.statuses == ["READY", "WAITING_FOR_UNMUTE", "READY", "COMPLETED"]
    assert fakes.projected == [("muted", None), (None, None)]


async def test_unmuted_before_its_time_a_scheduled_invitation_waits_for_it(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    fakes = Fakes()
    at = await env.get_current_time() + timedelta(days=5)
    async with Run(env, fakes) as run:
        handle = await run.start(
            make_input(
                keep_muted=True,
                invitation_mode=InvitationMode.scheduled,
                invitation_scheduled_at=at,
            )
        )
        await wait_for_status(handle, OnboardingStatus.WAITING_FOR_UNMUTE)
        await _switch(handle, enabled=True)
        view = await wait_for_status(handle, OnboardingStatus.READY)
        assert view.invitation.state == InvitationState.scheduled
        await env.sleep(timedelta(days=2))
        assert fakes.emails == []
        await handle.result()
    [(purpose, _, _, sent)] = fakes.sent_at
    assert purpose == "invitation" and at <= sent < at + timedelta(minutes=1)
    # What the clients list filters on: muted, then scheduled for its time, then (sent) derived
    # from the invitations table again.
    assert fakes.projected == [("muted", None), ("scheduled", at), (None, None)]


async def test_unmuted_a_manual_invitation_still_waits_for_send_now(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    fakes = Fakes()
    async with Run(env, fakes) as run:
        handle = await run.start(make_input(keep_muted=True, invitation_mode=InvitationMode.manual))
        await wait_for_status(handle, OnboardingStatus.WAITING_FOR_UNMUTE)
        await _switch(handle, enabled=True)
        view = await wait_for_status(handle, OnboardingStatus.READY)
        assert view.invitation.state == InvitationState.waiting_manual
        await env.sleep(timedelta(days=3))
        assert fakes.emails == []
        await handle.execute_update(OnboardingWorkflow.send_invitation_now)
        final = await handle.result()
    assert len(fakes.sent_at) == 1 and final.status == OnboardingStatus.COMPLETED


async def test_muted_while_its_time_comes_the_invitation_waits_for_unmute(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Notifications on at setup, switched off before the scheduled time: at that time nothing
    is sent and the onboarding waits; switched back on, it goes at once."""
    env = time_skipping_env
    fakes = Fakes()
    at = await env.get_current_time() + timedelta(days=3)
    async with Run(env, fakes) as run:
        handle = await run.start(
            make_input(invitation_mode=InvitationMode.scheduled, invitation_scheduled_at=at)
        )
        await wait_for_status(handle, OnboardingStatus.READY)
        await _switch(handle, enabled=False)
        assert (await handle.query(OnboardingWorkflow.status)).notifications_muted
        await env.sleep(timedelta(days=4))
        view = await wait_for_status(handle, OnboardingStatus.WAITING_FOR_UNMUTE)
        assert fakes.emails == [] and view.invitation.state == InvitationState.muted
        await _switch(handle, enabled=True)
        await handle.result()
    assert fakes.setup_muted == [False]
    assert fakes.switched == [True, False]
    [(_, _, _, sent)] = fakes.sent_at
    assert sent >= at + timedelta(days=1)  # when switched back on, not at its time


async def test_switched_during_setup_the_wish_is_applied_when_setup_completes(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Asked to stay muted, switched on before setup ends: complete_setup unmutes, and the
    invitation goes without any wait (the client was never on while being set up)."""
    env = time_skipping_env
    fakes = Fakes()
    fakes.registry = lambda attempt: LookupCompanyResult(company=None, attempt=attempt)
    async with Run(env, fakes) as run:
        handle = await run.start(make_input(keep_muted=True))
        await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        await _switch(handle, enabled=True)
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details, CompanyDetails(name="Switch SARL")
        )
        final = await handle.result()
    assert fakes.setup_muted == [False]
    assert fakes.switched == []  # nothing to write after setup: complete_setup did it
    assert "WAITING_FOR_UNMUTE" not in fakes.statuses
    assert final.status == OnboardingStatus.COMPLETED
