"""A step parked in NEEDS_ATTENTION and resumed in the same run (no continue-as-new: the run's
maximum age is far off), under the time-skipping server. After the resume the onboarding goes on
as if the step had simply taken long: the invitation's reminders count from its actual send, and
a checklist parked after complete_setup leaves the client READY with its setup step completed
(patch park-resume-times; the continue-as-new side is in test_bounded_waits.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from domain.onboarding import (
    AcceptInvitationInput,
    InvitationState,
    OnboardingInput,
    OnboardingStatus,
    Step,
    StepState,
)
from tests.workflow_helpers import (
    ChecklistDown,
    InvitationSendDown,
    Run,
    make_input,
    skip_until_parked,
    wait_for_status,
)
from workflows.onboarding import OnboardingWorkflow

# Far beyond every wait below: these runs never continue as new.
MAX_AGE = timedelta(days=60)
PARK = timedelta(days=5)


def _far_bound() -> OnboardingInput:
    data = make_input()
    return data.model_copy(
        update={"timeouts": data.timeouts.model_copy(update={"max_run_age": MAX_AGE})}
    )


async def test_invitation_send_parked_then_resumed_reminds_from_the_actual_send(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """SMTP is down for five days, the send parks, then a resume in the same run sends it: the
    reminders come 3 and 7 days after that send, not at once for the days spent parked."""
    env, fakes = time_skipping_env, InvitationSendDown()
    async with Run(env, fakes) as run:
        handle = await run.start(_far_bound())
        await env.sleep(timedelta(hours=6))  # SMTP_RETRY's attempts, hours apart at the end
        parked = await wait_for_status(handle, OnboardingStatus.NEEDS_ATTENTION)
        assert {s.name: s.state for s in parked.steps}[Step.invitation] == StepState.waiting
        await env.sleep(PARK)
        fakes.up = True
        await handle.execute_update(OnboardingWorkflow.resume)
        await env.sleep(timedelta(days=8))
        view = await handle.query(OnboardingWorkflow.status)
        await handle.signal(OnboardingWorkflow.accept_invitation, AcceptInvitationInput(sequence=1))
        final = await handle.result()
    [(_, sequence, _, sent)] = [e for e in fakes.sent_at if e[0] == "invitation"]
    reminders = {
        number: at - sent for purpose, _, number, at in fakes.sent_at if purpose == "reminder"
    }
    assert sequence == 1 and view.invitation.sent_at is not None
    assert abs(view.invitation.sent_at - sent) < timedelta(minutes=1), (view.invitation, sent)
    assert set(reminders) == {1, 2}, fakes.sent_at
    assert timedelta(days=3) <= reminders[1] < timedelta(days=3, hours=1), reminders
    assert timedelta(days=7) <= reminders[2] < timedelta(days=7, hours=1), reminders
    assert final.status == OnboardingStatus.COMPLETED
    assert final.invitation.state == InvitationState.accepted


async def test_checklist_parked_then_resumed_leaves_the_client_ready_and_the_setup_completed(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The checklist parks after complete_setup wrote READY; a resume in the same run assigns it
    and writes READY again (not SETTING_UP), and complete_setup's step ends completed."""
    env, fakes = time_skipping_env, ChecklistDown()
    async with Run(env, fakes) as run:
        handle = await run.start(_far_bound())
        parked = await skip_until_parked(env, handle)
        assert parked.status == OnboardingStatus.NEEDS_ATTENTION, parked
        assert {s.name: s.state for s in parked.steps}[Step.complete_setup] == StepState.waiting
        await env.sleep(PARK)
        fakes.up = True
        await handle.execute_update(OnboardingWorkflow.resume)
        final = await handle.result()
    assert fakes.setup_muted == [False]  # complete_setup ran once
    assert [a.checklist_id for a in fakes.assigned] == [fakes.checklist_id]
    assert fakes.statuses == ["READY", "NEEDS_ATTENTION", "READY", "COMPLETED"]
    setup = next(s for s in final.steps if s.name == Step.complete_setup)
    assert setup.state == StepState.completed, setup
    assert setup.detail is not None and "checklist of 3 item(s) assigned" in setup.detail
    assert final.status == OnboardingStatus.COMPLETED
