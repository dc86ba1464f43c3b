"""Every workflow this service starts, declared once (its type, id, id-reuse policy, search
attributes, summary), and the one `start` that makes any of them: the application functions and
the import's activity alike go through it (tests/test_workflow_starts.py keeps it the only
caller of `start_workflow`).

What every start shares, so no start can lack it:
- the id is the object's own (an onboarding, a change, an assignment...), and a start repeated
  while that run is open is that run (USE_EXISTING): a request retried after a lost answer, or
  an activity retried, starts nothing twice;
- the run is listed under its firm (the PartnerId search attribute), as ops filter in the UI;
- a run that finished under that id answers `Outcome.ran_before`, never an error;
- a start that did not happen raises `StartFailed` with why in our words (`StartRefused`): a
  Temporal down or never reached (the API's lazy client raises RuntimeError, not RPCError, until
  it first connects) is `unavailable` like any other RPC outage, so a caller's compensation (the
  integration change given back) runs whichever way Temporal was missed.

Workflow types are named, not imported: core/ sits below workflows/, and names checked against
the workflows the worker registers and their input types (tests/test_workflow_starts.py) are as
safe.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from core.temporal import StartRefused, start_refusal
from domain import fiscal_years, integrations, notices
from domain import onboarding as onboardings
from domain import search_attributes as sa
from domain.imports_progress import BulkImportInput
from domain.onboarding import OnboardingStatus

# Each workflow type started here, by its input: one input model per workflow (style rule 2).
WORKFLOW_NAMES: dict[type[BaseModel], str] = {
    onboardings.OnboardingInput: "OnboardingWorkflow",
    BulkImportInput: "BulkImportWorkflow",
    fiscal_years.FiscalYearInput: "FiscalYearWorkflow",
    integrations.IntegrationChangeInput: "IntegrationChangeWorkflow",
    notices.ChecklistNoticeWorkflowInput: "ChecklistNoticeWorkflow",
    notices.CollaboratorsNoticeInput: "CollaboratorsNoticeWorkflow",
}


@dataclass(frozen=True)
class WorkflowStart:
    """One workflow to start: what the declarations below fix, the task queue aside (the
    caller's deployment names it)."""

    input: BaseModel
    id: str
    partner_id: uuid.UUID
    # Whether a run that finished under the id may run again: only the caller's object knows.
    id_reuse_policy: WorkflowIDReusePolicy
    # Besides PartnerId, which every start carries.
    search_attributes: tuple[SearchAttributePair[Any], ...] = ()
    static_summary: str | None = None

    @property
    def workflow(self) -> str:
        """The workflow type's name, as @workflow.defn registers it: the one its input is for."""
        return WORKFLOW_NAMES[type(self.input)]


class Outcome(enum.Enum):
    started = "started"  # a new run, or the open run under the id
    ran_before = "ran_before"  # a run under the id finished, and the policy keeps it the only one


class StartFailed(Exception):
    """Temporal did not start the workflow; `refused` says why in our words (the server's message
    may quote the input, so it stays on the chained exception, for the logs)."""

    def __init__(self, refused: StartRefused) -> None:
        super().__init__(refused.reason)
        self.refused = refused


async def start(client: Client, start: WorkflowStart, *, task_queue: str) -> Outcome:
    """Start `start` on `task_queue` unless its run is open (then that run) or ran already."""
    try:
        await client.start_workflow(
            start.workflow,
            start.input,
            id=start.id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=start.id_reuse_policy,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.PARTNER_ID, str(start.partner_id)),
                    *start.search_attributes,
                ]
            ),
            static_summary=start.static_summary,
        )
    except WorkflowAlreadyStartedError:
        return Outcome.ran_before
    except Exception as exc:
        refused = start_refusal(exc)
        if refused is None:
            raise  # not Temporal's answer: a bug of ours
        raise StartFailed(refused) from exc
    return Outcome.started


# ---- the declarations: one per workflow type ---------------------------------------------------


def onboarding(
    data: onboardings.OnboardingInput,
    *,
    status_since: datetime,
    import_id: uuid.UUID | None = None,
) -> WorkflowStart:
    """A client's onboarding, from the API or an import's row: one run per onboarding, ever,
    listed by status from its start (the workflow keeps the status current)."""
    return WorkflowStart(
        input=data,
        id=onboardings.workflow_id_for(data.onboarding_id),
        partner_id=data.partner_id,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=(
            SearchAttributePair(sa.ONBOARDING_STATUS, OnboardingStatus.SETTING_UP.value),
            SearchAttributePair(sa.STATUS_SINCE, status_since),
        ),
        static_summary=onboardings.onboarding_summary(
            data.onboarding_id, data.partner_id, import_id=import_id
        ),
    )


def bulk_import_id(import_id: uuid.UUID) -> str:
    return f"import-{import_id}"


def bulk_import(data: BulkImportInput) -> WorkflowStart:
    """A kept file's import: once only, even past its workflow's retention (the store's
    `started` mark keeps it so beyond Temporal)."""
    return WorkflowStart(
        input=data,
        id=bulk_import_id(data.import_id),
        partner_id=data.partner_id,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )


def fiscal_year(data: fiscal_years.FiscalYearInput) -> WorkflowStart:
    """A later fiscal year's folders: only a failed run may run again (a succeeded one made
    them)."""
    return WorkflowStart(
        input=data,
        id=fiscal_years.workflow_id_for(data.client_id, data.fiscal_year.start),
        partner_id=data.partner_id,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )


def integration_change(data: integrations.IntegrationChangeInput) -> WorkflowStart:
    """One change of a client's integration: its outcome is on the change's row, so it never
    runs twice."""
    return WorkflowStart(
        input=data,
        id=integrations.workflow_id_for(data.client_id, data.integration.code, data.change_id),
        partner_id=data.partner_id,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )


def checklist_notice(data: notices.ChecklistNoticeWorkflowInput) -> WorkflowStart:
    """The director's e-mail for a checklist assignment: only a failed run may run again (the
    e-mail log still keeps it to one e-mail)."""
    return WorkflowStart(
        input=data,
        id=notices.checklist_notice_id(data.client_id, data.assignment),
        partner_id=data.partner_id,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )


def collaborators_notice(data: notices.CollaboratorsNoticeInput) -> WorkflowStart:
    """The `client_ready` e-mail for collaborators added after onboarding: only a failed run may
    run again (its e-mail log keeps those already told from a second e-mail)."""
    return WorkflowStart(
        input=data,
        id=notices.collaborators_notice_id(data.client_id, data.user_ids),
        partner_id=data.partner_id,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )
