"""CollaboratorsNoticeWorkflow: the `client_ready` e-mail for collaborators added after onboarding.

The API changes a client's collaborators and starts one run per change (the id says which
client and which users were added, see `workflow_id_for`), so a repeated request starts nothing
twice; the run sends through the onboarding's own activity, whose e-mail log is keyed per user,
so even a user added, removed and added again is told once per onboarding.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain import search_attributes as sa

with workflow.unsafe.imports_passed_through():
    # Passed through: the workflow only uses their pydantic models and method references.
    from activities.invitations import (
        CollaboratorActivities,
        NotifyCollaboratorsInput,
        NotifyCollaboratorsResult,
    )

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


class CollaboratorsNoticeInput(BaseModel):
    partner_id: uuid.UUID
    client_id: uuid.UUID
    # The client's onboarding: its e-mail log holds one `client_ready` row per user told.
    onboarding_id: uuid.UUID
    user_ids: list[uuid.UUID] = Field(description="The collaborators just added")
    client_name: str
    language: str = Field(description="The client's language (each user reads their own)")
    folder_count: int


def workflow_id_for(client_id: uuid.UUID, added: list[uuid.UUID]) -> str:
    """One id per client and set of added users: ids only, in any order, no personal data."""
    digest = hashlib.sha256(",".join(sorted(str(u) for u in added)).encode()).hexdigest()
    return f"client-collaborators-{client_id}-{digest[:16]}"


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


async def start_notice(client: Client, *, data: CollaboratorsNoticeInput, task_queue: str) -> None:
    """Start the notice unless this change's run runs or has succeeded (only a failed one may
    run again; its e-mail log keeps those already told from a second e-mail)."""
    try:
        await client.start_workflow(
            CollaboratorsNoticeWorkflow.run,
            data,
            id=workflow_id_for(data.client_id, data.user_ids),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.PARTNER_ID, str(data.partner_id))]
            ),
        )
    except WorkflowAlreadyStartedError:
        pass  # it completed: they were told
