"""Assigning the setup's checklist to the client when its setup completes (seed 003)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.error_types import ErrorType
from store import checklists
from store.pool import Pool


class AssignChecklistInput(BaseModel):
    partner_id: uuid.UUID
    client_id: uuid.UUID
    checklist_id: uuid.UUID | None = Field(
        description="The effective setup's `checklist_id`; None assigns nothing"
    )


class AssignChecklistResult(BaseModel):
    assigned: bool
    checklist_id: uuid.UUID | None = None
    item_count: int = 0
    attempt: int


class ChecklistActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn
    async def assign_checklist(self, data: AssignChecklistInput) -> AssignChecklistResult:
        """Copy the checklist's items onto the client, once: a retry or a second run keeps the
        first copy, and later catalog edits never reach it."""
        attempt = activity.info().attempt
        if data.checklist_id is None:
            return AssignChecklistResult(assigned=False, attempt=attempt)
        row = await checklists.assign(
            self.pool,
            partner_id=data.partner_id,
            client_id=data.client_id,
            checklist_id=data.checklist_id,
        )
        if row is None:
            # Deleted from the catalog since the setup resolved (or the client row is missing):
            # retrying cannot bring it back, a person has to choose.
            raise ApplicationError(
                f"checklist {data.checklist_id} is not in the partner's catalog",
                type=ErrorType.ChecklistMissing,
                non_retryable=True,
            )
        return AssignChecklistResult(
            assigned=True, checklist_id=row.checklist_id, item_count=len(row.items), attempt=attempt
        )
