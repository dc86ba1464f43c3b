"""Records the onboarding histories that tests/workflows/test_replay.py replays.

Each path drives one way through OnboardingWorkflow on a time-skipping test server of its own,
with the activities faked under their real names, and writes the run's history. A history is
recorded once, with the code of its day, and kept as a file: replaying it against later code is
what proves a change kept running onboardings replayable (a history made by the code under test
replays whatever that code does). Record again only after a deliberate, patched change, into a
new file, keeping the old ones while runs of their kind may be open:

    python -m tests.workflows.record_histories PATH OUT.json

PATH is one of PATHS' keys.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowFailureError, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from activities.registry import LookupCompanyResult
from domain.onboarding import (
    AcceptInvitationInput,
    CompanyDetails,
    OnboardingInput,
    OnboardingStatus,
    RescheduleInvitationInput,
    RetryIntegrationInput,
    SetNotificationsInput,
    Timeouts,
)
from domain.setup import EffectiveIntegration, IntegrationKind, InvitationMode
from tests.factories import started_time_skipping_env
from tests.workflow_helpers import (
    ChecklistDown,
    Fakes,
    FoldersDown,
    InvitationSendDown,
    Run,
    belgian_input,
    make_input,
    skip_time,
    skip_until_parked,
    wait_for_status,
)
from workflows.onboarding import OnboardingWorkflow

Path_ = Callable[[WorkflowEnvironment], Awaitable[WorkflowHistory]]


def _unknown_company(fakes: Fakes) -> None:
    fakes.registry = lambda attempt: LookupCompanyResult(company=None, attempt=attempt)


async def rich(env: WorkflowEnvironment) -> WorkflowHistory:
    """Unknown SIRET and details by hand, a failed then retried integration, a reminder, then
    acceptance."""
    fakes = Fakes()
    _unknown_company(fakes)
    fakes.integrations = [
        EffectiveIntegration(code="bank", kind=IntegrationKind.automation, settings={}),
        EffectiveIntegration(code="portal", kind=IntegrationKind.redirection, settings={}),
    ]
    fakes.integration_failures = {"bank": 5}
    fakes.auto_accept = False
    async with Run(env, fakes) as run:
        handle = await run.start(make_input())
        await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details, CompanyDetails(name="Replay SARL")
        )
        await env.sleep(timedelta(minutes=5))
        await wait_for_status(handle, OnboardingStatus.READY)
        await handle.execute_update(
            OnboardingWorkflow.retry_integration, RetryIntegrationInput(code="bank")
        )
        await env.sleep(timedelta(days=4))
        await handle.signal(OnboardingWorkflow.accept_invitation, AcceptInvitationInput(sequence=1))
        await handle.result()
        return await handle.fetch_history()


async def belgian(env: WorkflowEnvironment) -> WorkflowHistory:
    """A Belgian client found in the KBO tables, its VAT number checked in VIES."""
    async with Run(env, Fakes()) as run:
        handle = await run.start(belgian_input())
        await handle.result()
        return await handle.fetch_history()


async def vat(env: WorkflowEnvironment) -> WorkflowHistory:
    """A French client found in the registry with an EU VAT number given, checked in VIES."""
    async with Run(env, Fakes()) as run:
        client = make_input().client.model_copy(update={"vat_number": "FR40303265045"})
        handle = await run.start(make_input(client=client))
        await handle.result()
        return await handle.fetch_history()


async def unmute(env: WorkflowEnvironment) -> WorkflowHistory:
    """Kept muted: WAITING_FOR_UNMUTE for days, then switched on, the invitation goes."""
    async with Run(env, Fakes()) as run:
        handle = await run.start(make_input(keep_muted=True))
        await wait_for_status(handle, OnboardingStatus.WAITING_FOR_UNMUTE)
        await env.sleep(timedelta(days=3))
        await handle.execute_update(
            OnboardingWorkflow.set_notifications, SetNotificationsInput(enabled=True)
        )
        await handle.result()
        return await handle.fetch_history()


async def checklist(env: WorkflowEnvironment) -> WorkflowHistory:
    """The setup's checklist assigned, collaborators told, then the invitation."""
    fakes = Fakes()
    fakes.checklist_id = uuid.uuid4()
    fakes.user_ids = [uuid.uuid4()]
    async with Run(env, fakes) as run:
        handle = await run.start(make_input())
        await handle.result()
        return await handle.fetch_history()


async def manual_sent_later(env: WorkflowEnvironment) -> WorkflowHistory:
    """A manual invitation waits ten days, then someone sends it."""
    async with Run(env, Fakes()) as run:
        handle = await run.start(make_input(invitation_mode=InvitationMode.manual))
        await wait_for_status(handle, OnboardingStatus.READY)
        await env.sleep(timedelta(days=10))
        await handle.execute_update(OnboardingWorkflow.send_invitation_now)
        await handle.result()
        return await handle.fetch_history()


async def rescheduled(env: WorkflowEnvironment) -> WorkflowHistory:
    """Scheduled in three days, moved to five: sent when its new timer fires."""
    now = await env.get_current_time()
    async with Run(env, Fakes()) as run:
        handle = await run.start(
            make_input(
                invitation_mode=InvitationMode.scheduled,
                invitation_scheduled_at=now + timedelta(days=3),
            )
        )
        await wait_for_status(handle, OnboardingStatus.READY)
        await handle.execute_update(
            OnboardingWorkflow.reschedule_invitation,
            RescheduleInvitationInput(scheduled_at=now + timedelta(days=5)),
        )
        await handle.result()
        return await handle.fetch_history()


async def cancelled(env: WorkflowEnvironment) -> WorkflowHistory:
    """Scheduled, cancelled, left a week past its time, then sent now."""
    now = await env.get_current_time()
    async with Run(env, Fakes()) as run:
        handle = await run.start(
            make_input(
                invitation_mode=InvitationMode.scheduled,
                invitation_scheduled_at=now + timedelta(days=3),
            )
        )
        await wait_for_status(handle, OnboardingStatus.READY)
        await handle.execute_update(OnboardingWorkflow.cancel_invitation)
        await env.sleep(timedelta(days=7))
        await handle.execute_update(OnboardingWorkflow.send_invitation_now)
        await handle.result()
        return await handle.fetch_history()


async def expired_resent(env: WorkflowEnvironment) -> WorkflowHistory:
    """Not accepted: two reminders, expiry and its notice, a resend, then acceptance."""
    fakes = Fakes()
    fakes.auto_accept = False
    async with Run(env, fakes) as run:
        handle = await run.start(make_input())
        await wait_for_status(handle, OnboardingStatus.READY)
        await env.sleep(timedelta(days=15))
        await handle.execute_update(OnboardingWorkflow.resend_invitation)
        await env.sleep(timedelta(hours=1))
        await handle.signal(OnboardingWorkflow.accept_invitation, AcceptInvitationInput(sequence=2))
        await handle.result()
        return await handle.fetch_history()


async def escalations(env: WorkflowEnvironment) -> WorkflowHistory:
    """Company details given after the creator's reminder; an integration left failed past its
    window, with its reminder and its notice."""
    fakes = Fakes()
    _unknown_company(fakes)
    fakes.integrations = [
        EffectiveIntegration(code="bank", kind=IntegrationKind.automation, settings={})
    ]
    fakes.integration_failures = {"bank": 100}
    timeouts = Timeouts(
        company_lookup=timedelta(minutes=2),
        company_details=timedelta(days=2),
        integration_retry_window=timedelta(days=4),
    )
    async with Run(env, fakes) as run:
        handle = await run.start(make_input(timeouts=timeouts))
        await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        await env.sleep(timedelta(days=1, hours=1))
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details, CompanyDetails(name="Rappel SARL")
        )
        await handle.result()
        return await handle.fetch_history()


async def details_deadline(env: WorkflowEnvironment) -> WorkflowHistory:
    """Company details never given: reminder, deadline notice, FAILED."""
    fakes = Fakes()
    _unknown_company(fakes)
    async with Run(env, fakes) as run:
        handle = await run.start(make_input())
        try:
            await handle.result()
        except WorkflowFailureError:
            pass
        else:
            raise AssertionError("the onboarding should have failed")
        return await handle.fetch_history()


async def needs_attention(env: WorkflowEnvironment) -> WorkflowHistory:
    """The folders step outlasts its retries: NEEDS_ATTENTION, then resumed after the fix."""
    fakes = FoldersDown()
    async with Run(env, fakes) as run:
        handle = await run.start(make_input())
        view = await skip_until_parked(env, handle)
        assert view.status == OnboardingStatus.NEEDS_ATTENTION, view
        await skip_time(env, 3600)
        fakes.up = True
        await handle.execute_update(OnboardingWorkflow.resume)
        await handle.result()
        return await handle.fetch_history()


async def _bounded_manual(env: WorkflowEnvironment, run: int) -> WorkflowHistory:
    """A manual invitation waiting past a 5-day maximum run age (patch bounded-waits): the
    first run continues as new at 5 days with its state; the next one is sent to."""
    data = make_input(invitation_mode=InvitationMode.manual)
    data = data.model_copy(
        update={"timeouts": data.timeouts.model_copy(update={"max_run_age": timedelta(days=5)})}
    )
    async with Run(env, Fakes()) as started:
        first = await started.start(data)
        latest = env.client.get_workflow_handle_for(OnboardingWorkflow.run, first.id)
        await wait_for_status(latest, OnboardingStatus.READY)
        await env.sleep(timedelta(days=6))
        await latest.execute_update(OnboardingWorkflow.send_invitation_now)
        await first.result()
        run_id = first.first_execution_run_id
        for _ in range(run):
            history = await env.client.get_workflow_handle(first.id, run_id=run_id).fetch_history()
            continued = history.events[-1].workflow_execution_continued_as_new_event_attributes
            run_id = continued.new_execution_run_id
        return await env.client.get_workflow_handle(first.id, run_id=run_id).fetch_history()


async def bounded_first_run(env: WorkflowEnvironment) -> WorkflowHistory:
    """The run that reached its maximum age and continued as new."""
    return await _bounded_manual(env, 0)


async def bounded_next_run(env: WorkflowEnvironment) -> WorkflowHistory:
    """The run that took over its state, then sent the invitation."""
    return await _bounded_manual(env, 1)


async def _nth_run(
    env: WorkflowEnvironment, workflow_id: str, first: str, n: int
) -> WorkflowHistory:
    """The history of run `n` (0: the first) of a workflow that continued as new."""
    run_id = first
    for _ in range(n):
        history = await env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        run_id = history.events[
            -1
        ].workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return await env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()


async def _attention_past_the_bound(env: WorkflowEnvironment, run: int) -> WorkflowHistory:
    """The folders step parked in NEEDS_ATTENTION past a 5-day maximum run age (patch
    bounded-attention): the first run continues as new at 5 days, still parked; the next one
    is resumed and runs folders again, and only them, to the end."""
    data = make_input()
    data = data.model_copy(
        update={"timeouts": data.timeouts.model_copy(update={"max_run_age": timedelta(days=5)})}
    )
    fakes = FoldersDown()
    async with Run(env, fakes) as started:
        first = await started.start(data)
        latest = env.client.get_workflow_handle_for(OnboardingWorkflow.run, first.id)
        view = await skip_until_parked(env, first)
        assert view.status == OnboardingStatus.NEEDS_ATTENTION, view
        await env.sleep(timedelta(days=6))
        fakes.up = True
        await latest.execute_update(OnboardingWorkflow.resume)
        await first.result()
        assert first.first_execution_run_id is not None
        return await _nth_run(env, first.id, first.first_execution_run_id, run)


async def attention_first_run(env: WorkflowEnvironment) -> WorkflowHistory:
    """The run that parked, waited its maximum age and continued as new."""
    return await _attention_past_the_bound(env, 0)


async def attention_next_run(env: WorkflowEnvironment) -> WorkflowHistory:
    """The run that took over still parked, was resumed and finished the onboarding."""
    return await _attention_past_the_bound(env, 1)


def _far_bound() -> OnboardingInput:
    """Parks resumed in the same run: a maximum run age far beyond them (patch
    park-resume-times)."""
    data = make_input()
    return data.model_copy(
        update={"timeouts": data.timeouts.model_copy(update={"max_run_age": timedelta(days=60)})}
    )


async def send_parked(env: WorkflowEnvironment) -> WorkflowHistory:
    """The invitation's send parks (SMTP down) for five days, is resumed in the same run and
    sent; its two reminders count from that send, then the director accepts."""
    fakes = InvitationSendDown()
    async with Run(env, fakes) as run:
        handle = await run.start(_far_bound())
        await env.sleep(timedelta(hours=6))  # SMTP_RETRY's attempts
        await wait_for_status(handle, OnboardingStatus.NEEDS_ATTENTION)
        await env.sleep(timedelta(days=5))
        fakes.up = True
        await handle.execute_update(OnboardingWorkflow.resume)
        await env.sleep(timedelta(days=8))
        await handle.signal(OnboardingWorkflow.accept_invitation, AcceptInvitationInput(sequence=1))
        await handle.result()
        return await handle.fetch_history()


async def checklist_parked(env: WorkflowEnvironment) -> WorkflowHistory:
    """The checklist parks after complete_setup for five days, is resumed in the same run and
    assigned; READY again, then the invitation."""
    fakes = ChecklistDown()
    async with Run(env, fakes) as run:
        handle = await run.start(_far_bound())
        view = await skip_until_parked(env, handle)
        assert view.status == OnboardingStatus.NEEDS_ATTENTION, view
        await env.sleep(timedelta(days=5))
        fakes.up = True
        await handle.execute_update(OnboardingWorkflow.resume)
        await handle.result()
        return await handle.fetch_history()


PATHS: dict[str, Path_] = {
    "rich": rich,
    "belgian": belgian,
    "vat": vat,
    "unmute": unmute,
    "checklist": checklist,
    "manual_sent_later": manual_sent_later,
    "rescheduled": rescheduled,
    "cancelled": cancelled,
    "expired_resent": expired_resent,
    "escalations": escalations,
    "details_deadline": details_deadline,
    "needs_attention": needs_attention,
    "bounded_first_run": bounded_first_run,
    "bounded_next_run": bounded_next_run,
    "attention_first_run": attention_first_run,
    "attention_next_run": attention_next_run,
    "send_parked": send_parked,
    "checklist_parked": checklist_parked,
}


async def record(path: str, out: Path) -> None:
    """Drive `path` on a fresh time-skipping server and write its history into `out`."""
    async with started_time_skipping_env() as env:
        history = await PATHS[path](env)
    await asyncio.to_thread(out.write_text, history.to_json())


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1], Path(sys.argv[2])))
