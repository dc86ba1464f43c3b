"""The inputs and workflow ids of the e-mail notices a change of a client starts after its
onboarding: the checklist's (ChecklistNoticeWorkflow) and the new collaborators'
(CollaboratorsNoticeWorkflow).

In domain/ because both sides name them: the workflows that run them and the one place that
starts every workflow (core/workflow_starts.py), which may not import workflows/.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from pydantic import BaseModel, Field


class ChecklistNoticeWorkflowInput(BaseModel):
    partner_id: uuid.UUID
    client_id: uuid.UUID
    assignment: int
    recheck: timedelta = timedelta(hours=1)


def checklist_notice_id(client_id: uuid.UUID, assignment: int) -> str:
    # Ids only: workflow ids are visible to anyone with access to the namespace.
    return f"client-checklist-{client_id}-{assignment}"


class CollaboratorsNoticeInput(BaseModel):
    partner_id: uuid.UUID
    client_id: uuid.UUID
    # The client's onboarding: its e-mail log holds one `client_ready` row per user told.
    onboarding_id: uuid.UUID
    user_ids: list[uuid.UUID] = Field(description="The collaborators just added")
    client_name: str
    language: str = Field(description="The client's language (each user reads their own)")
    folder_count: int


def collaborators_notice_id(client_id: uuid.UUID, added: list[uuid.UUID]) -> str:
    """One id per client and set of added users: ids only, in any order, no personal data."""
    digest = hashlib.sha256(",".join(sorted(str(u) for u in added)).encode()).hexdigest()
    return f"client-collaborators-{client_id}-{digest[:16]}"
