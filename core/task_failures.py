"""Onboardings whose workflow task fails: the workflow cannot move or answer its status query.

A workflow task fails in a loop when the code cannot complete it: a search attribute the
namespace lacks (issue 21), a non-deterministic change, an exception in workflow code. Temporal
retries it for ever; nothing fails, nothing alerts, and the status query is refused. Two views:

- one workflow: describe()'s pending workflow task (its attempt: 2 or more means the last one
  failed or timed out), the cause from the last WorkflowTaskFailed event of its history;
- the fleet: the `TemporalReportedProblems` search attribute, which the server sets after
  `system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute` consecutive failures
  (5 by default; on Temporal Cloud too) and clears on the first success. Counting it is one
  visibility query whatever the number of onboardings, so the scrape and the stuck list use it
  instead of a describe() per onboarding.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client, WorkflowExecutionDescription

# Running onboarding workflows whose task failed (or timed out) that many times in a row.
FAILING_QUERY = (
    'WorkflowType = "OnboardingWorkflow" AND ExecutionStatus = "Running" AND '
    'TemporalReportedProblems IN ("category=WorkflowTaskFailed", "category=WorkflowTaskTimedOut")'
)
# Events read back from the end of a history to find the last failure: a failing task adds
# none, but signals and updates sent meanwhile may.
_TAIL_EVENTS = 50

# Causes in our words; the failure's message is not used: it may quote workflow data.
_CAUSES = {
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SEARCH_ATTRIBUTES: (
        "the Temporal namespace lacks a search attribute the workflow sets (GET /healthz names "
        "it and the command that adds it)"
    ),
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR: (
        "the workflow code no longer replays this history (a change not behind workflow.patched)"
    ),
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE: (
        "the workflow code raised an error (see the worker's log)"
    ),
}


@dataclass(frozen=True)
class TaskProblem:
    attempts: int  # attempts of the pending workflow task so far
    reason: str  # in our words, no personal data


def _cause_text(cause: int) -> str:
    known: str | None = _CAUSES.get(cause)  # type: ignore[call-overload]  # protobuf stubs type the key as the enum NewType
    if known is not None:
        return known
    name = WorkflowTaskFailedCause.Name(cause)  # type: ignore[arg-type]  # as above
    return name.removeprefix("WORKFLOW_TASK_FAILED_CAUSE_").replace("_", " ").lower()


async def task_problem(
    client: Client, workflow_id: str, description: WorkflowExecutionDescription
) -> TaskProblem | None:
    """Why this workflow's task fails, or None when its pending task (if any) is a first try."""
    pending = description.raw_description.pending_workflow_task
    if pending.attempt < 2:
        return None
    reason = f"its workflow task fails (attempt {pending.attempt}; see the worker's log)"
    history = await client.workflow_service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(
            namespace=client.namespace,
            execution=description.raw_description.workflow_execution_info.execution,
            maximum_page_size=_TAIL_EVENTS,
        )
    )
    for event in history.history.events:
        if event.HasField("workflow_task_failed_event_attributes"):
            cause = _cause_text(event.workflow_task_failed_event_attributes.cause)
            reason = f"its workflow task fails (attempt {pending.attempt}): {cause}"
            break
        if event.HasField("workflow_task_timed_out_event_attributes"):
            reason = (
                f"its workflow task times out (attempt {pending.attempt}): no worker completes "
                "it (are workers running on its task queue?)"
            )
            break
        if event.HasField("workflow_task_completed_event_attributes"):
            break  # the failures are after the last success only
    return TaskProblem(attempts=pending.attempt, reason=reason)


async def count_failing(client: Client) -> int:
    """Running onboardings whose workflow task keeps failing, fleet-wide (one visibility query)."""
    return (await client.count_workflows(FAILING_QUERY)).count


async def failing_workflow_ids(
    client: Client, *, partner_id: uuid.UUID | None = None, limit: int = 1000
) -> set[str]:
    """Workflow ids of those onboardings (of one partner), at most `limit`."""
    # A UUID is safe to put in the query as text.
    query = (
        FAILING_QUERY if partner_id is None else f'{FAILING_QUERY} AND PartnerId = "{partner_id}"'
    )
    ids: set[str] = set()
    async for execution in client.list_workflows(query, limit=limit):
        ids.add(execution.id)
    return ids
