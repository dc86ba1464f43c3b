"""ChecklistNoticeWorkflow: the e-mail telling an invited director that the firm assigned or
replaced their checklist, once per assignment.

app/checklists.py starts one run per assignment after its transaction commits (its start is
declared in core/workflow_starts.py, its input in domain/notices.py); the id names the
client and the assignment's number, so a request sent twice starts nothing twice, and the e-mail
log keyed on (onboarding, purpose, assignment) keeps a retried or restarted send to one e-mail.
A muted client's notice waits: app/notifications.py signals `unmuted` when someone switches the
notifications on, and a durable timer reads the client again every `recheck` in case the switch
came another way (the onboarding's own unmute, a command-line switch before this run existed).
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import suppress
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    # Passed through: the workflow only uses their pydantic models and method references.
    from activities.checklist_notice import (
        ChecklistNoticeActivities,
        ChecklistNoticeInput,
        ChecklistNoticeResult,
        NoticeOutcome,
    )
    from domain.notices import ChecklistNoticeWorkflowInput
    from domain.notices import checklist_notice_id as workflow_id_for

# As the other notices: a mail server down for a while delays the e-mail, it does not lose it.
SMTP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=24,
)
SMTP_TIMEOUT = timedelta(seconds=60)
# Checks of a muted client per run before continuing as new: the history stays small however
# long the client stays muted (a check is a handful of events).
CHECKS_PER_RUN = 200


class UnmutedSignal(BaseModel):
    """The client's notifications were switched on: look again now."""


@workflow.defn
class ChecklistNoticeWorkflow:
    def __init__(self) -> None:
        self._woken = False

    @workflow.signal
    def unmuted(self, _: UnmutedSignal) -> None:
        self._woken = True

    @workflow.run
    async def run(self, data: ChecklistNoticeWorkflowInput) -> ChecklistNoticeResult:
        for _ in range(CHECKS_PER_RUN):
            self._woken = False
            result = await workflow.execute_activity_method(
                ChecklistNoticeActivities.notify_checklist,
                ChecklistNoticeInput(
                    partner_id=data.partner_id,
                    client_id=data.client_id,
                    assignment=data.assignment,
                ),
                start_to_close_timeout=SMTP_TIMEOUT,
                retry_policy=SMTP_RETRY,
            )
            if result.outcome != NoticeOutcome.muted:
                return result
            # A signal wakes it at once; the timer is the fallback for unmutes not signalled
            # (wait_condition raises TimeoutError when the timer fires first).
            with suppress(asyncio.TimeoutError):
                await workflow.wait_condition(lambda: self._woken, timeout=data.recheck)
        workflow.continue_as_new(data)


async def wake(client: Client, *, client_id: uuid.UUID, assignment: int) -> None:
    """Tell the assignment's notice, if it waits, that the client's notifications are on."""
    handle = client.get_workflow_handle(workflow_id_for(client_id, assignment))
    await handle.signal(ChecklistNoticeWorkflow.unmuted, UnmutedSignal())
