"""CollaboratorsNoticeWorkflow: the `client_ready` e-mail for collaborators added after onboarding.

The API changes a client's collaborators and starts one run per change (the id says which
client and which users were added: domain/notices.py, the start declared in
core/workflow_starts.py), so a repeated request starts nothing twice; the run sends through the
onboarding's own activity, whose e-mail log is keyed per user, so even a user added, removed and
added again is told once per onboarding.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    # Passed through: the workflow only uses their pydantic models and method references.
    from activities.invitations import (
        CollaboratorActivities,
        NotifyCollaboratorsInput,
        NotifyCollaboratorsResult,
    )
    from domain.notices import CollaboratorsNoticeInput

# As the onboarding's collaborators' notice: a mail server down for a while delays the e-mails
# (a couple of hours of backed-off attempts) rather than losing them.
SMTP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=24,
    non_retryable_error_types=["DataError"],
)
SMTP_TIMEOUT = timedelta(seconds=60)


@workflow.defn
class CollaboratorsNoticeWorkflow:
    @workflow.run
    async def run(self, data: CollaboratorsNoticeInput) -> NotifyCollaboratorsResult:
        return await workflow.execute_activity_method(
            CollaboratorActivities.notify_collaborators,
            NotifyCollaboratorsInput(
                onboarding_id=data.onboarding_id,
                partner_id=data.partner_id,
                user_ids=data.user_ids,
                client_name=data.client_name,
                language=data.language,
                folder_count=data.folder_count,
            ),
            start_to_close_timeout=SMTP_TIMEOUT,
            retry_policy=SMTP_RETRY,
        )
