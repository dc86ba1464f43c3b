"""One onboarding's status: the workflow's answer, or the projection's when it cannot give one.

The workflow's `status` query needs a workflow task; while that task fails (issue 21: a search
attribute the namespace lacks) the query is refused for as long as the cause lasts, and the
status route answered 503 "Temporal unavailable" for an onboarding that was merely stuck. So
describe() comes first: a failing task, or a query that cannot be answered, gives the database
projection's status with `workflow_task_failing` and the reason, and a 200. A query no worker
answers within QUERY_WAIT (all workers down) gives the projection too, not a 30-second wait.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError, RPCStatusCode

from core.task_failures import task_problem
from core.temporal import QUERY_WAIT
from domain.onboarding import OnboardingStatus, OnboardingView
from workflows.onboarding import OnboardingWorkflow
from workflows.read_model import ExplainedView, decode_pending, explain


class WorkflowCannotAnswer(RuntimeError):
    """The workflow cannot say its status, and no database projection was at hand."""


async def explained_status(
    client: Client,
    workflow_id: str,
    *,
    onboarding_id: uuid.UUID,
    projected_status: str | None,
    since: datetime | None,
) -> ExplainedView:
    """The status GET /v1/onboardings/{id} and `onboarding status` answer. Raises RPCError when
    Temporal does not answer describe() (NOT_FOUND: no such workflow), WorkflowCannotAnswer
    when the workflow cannot and there is no projected status to give instead."""
    handle = client.get_workflow_handle_for(OnboardingWorkflow.run, workflow_id)
    # describe() is the server's view: it alone knows an activity's retries while they happen,
    # and whether the workflow's own task is failing.
    description = await handle.describe()
    problem = await task_problem(client, workflow_id, description)
    reason: str | None = problem.reason if problem is not None else None
    if problem is None:
        try:
            view = await handle.query(OnboardingWorkflow.status, rpc_timeout=QUERY_WAIT)
        except (WorkflowQueryFailedError, WorkflowQueryRejectedError):
            reason = "the workflow did not answer its status query (see the worker's log)"
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise
            # No worker polls, or the task failed between describe() and the query.
            reason = "the workflow did not answer its status query in time"
        else:
            pending = await decode_pending(
                description.raw_description.pending_activities, client.data_converter
            )
            return explain(view, pending, since=since)
    if projected_status is None:
        raise WorkflowCannotAnswer(reason)
    projected = OnboardingView(
        onboarding_id=onboarding_id, status=OnboardingStatus(projected_status), steps=[]
    )
    explained = explain(projected, [], since=since)
    explained.source = "projection"
    explained.workflow_task_failing = problem is not None
    explained.workflow_problem = reason
    return explained
