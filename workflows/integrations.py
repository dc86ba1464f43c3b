"""IntegrationChangeWorkflow: one change of a client's integrations after onboarding (add,
reconfigure, remove), run once.

One run per change (the id names the client, the app and the change, see `workflow_id_for`),
so the same request again starts nothing twice. Connecting goes through the onboarding's own
activity (IntegrationActivities.connect_integration) with the change's id: its Idempotency-Key
names the change, so the partner app recognises every retry of it (a worker that died mid-call
included) and connects the client once. Removing calls the app's disconnect_url the same way.
The client's integration row says where the app stands; the change's row, how the change ended.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Passed through: the workflow only uses their pydantic models and method references.
    from activities.integrations import (
        ConnectIntegrationInput,
        DisconnectIntegrationInput,
        FinishIntegrationChangeInput,
        IntegrationActivities,
        RecordIntegrationFailureInput,
    )
    from domain.integrations import (
        ChangeState,
        IntegrationAction,
        IntegrationChangeInput,
        IntegrationChangeView,
    )

    # The onboarding's retry policy for the same activity: a few tries, then a person decides.
    from workflows.policies import INTEGRATION_RETRY

# Shorter than the onboarding's minute: an app's answer takes at most its 10 s HTTP timeout, and
# a worker that died mid-call is noticed (and the call retried) after this.
CHANGE_TIMEOUT = timedelta(seconds=30)
# Bookkeeping writes: patient, so a database outage delays the history without losing it.
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["DataError"],
)
RECORD_TIMEOUT = timedelta(seconds=30)
RECORD_DEADLINE = timedelta(days=1)
# Error types whose messages are ours (activities/integrations.py): shown as they are. Any other
# error shows its type only, since its text is not ours to vouch for.
_OUR_ERRORS = {
    "IntegrationMisconfigured",
    "IntegrationRejected",
    "IntegrationUnavailable",
    "IntegrationChangeSuperseded",
}


def _cause(exc: BaseException) -> str:
    inner: BaseException = exc
    while inner.__cause__ is not None:
        inner = inner.__cause__
    if isinstance(inner, ApplicationError):
        if inner.type in _OUR_ERRORS:
            return inner.message
        return f"{inner.type or 'error'} (see the worker's log)"
    return f"{type(inner).__name__} (see the worker's log)"


@workflow.defn
class IntegrationChangeWorkflow:
    def __init__(self) -> None:
        self._view: IntegrationChangeView | None = None

    @workflow.run
    async def run(self, data: IntegrationChangeInput) -> IntegrationChangeView:
        view = self._view = IntegrationChangeView(
            change_id=data.change_id,
            code=data.integration.code,
            action=data.action,
            state=ChangeState.running,
        )
        try:
            if data.action == IntegrationAction.remove:
                await workflow.execute_activity_method(
                    IntegrationActivities.disconnect_integration,
                    DisconnectIntegrationInput(
                        client_id=data.client_id,
                        partner_id=data.partner_id,
                        change_id=data.change_id,
                        code=data.integration.code,
                        kind=data.integration.kind,
                    ),
                    start_to_close_timeout=CHANGE_TIMEOUT,
                    retry_policy=INTEGRATION_RETRY,
                )
            else:
                await workflow.execute_activity_method(
                    IntegrationActivities.connect_integration,
                    ConnectIntegrationInput(
                        client_id=data.client_id,
                        partner_id=data.partner_id,
                        onboarding_id=data.onboarding_id,
                        integration=data.integration,
                        change_id=data.change_id,
                    ),
                    start_to_close_timeout=CHANGE_TIMEOUT,
                    retry_policy=INTEGRATION_RETRY,
                )
        except ActivityError as exc:
            view.state, view.error = ChangeState.failed, _cause(exc)
            # The row says failed (the last attempt may have timed out before saying so);
            # a person adds, reconfigures or removes it again.
            await workflow.execute_activity_method(
                IntegrationActivities.record_integration_failure,
                RecordIntegrationFailureInput(
                    client_id=data.client_id,
                    code=data.integration.code,
                    kind=data.integration.kind,
                    error=view.error,
                ),
                start_to_close_timeout=RECORD_TIMEOUT,
                schedule_to_close_timeout=RECORD_DEADLINE,
                retry_policy=RECORD_RETRY,
            )
        else:
            view.state = ChangeState.done
        await workflow.execute_activity_method(
            IntegrationActivities.finish_integration_change,
            FinishIntegrationChangeInput(
                change_id=data.change_id,
                state="done" if view.state == ChangeState.done else "failed",
                error=view.error,
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            schedule_to_close_timeout=RECORD_DEADLINE,
            retry_policy=RECORD_RETRY,
        )
        return view

    @workflow.query
    def status(self) -> IntegrationChangeView:
        """Where the change stands (before the run began: nothing to say yet)."""
        if self._view is None:
            raise ApplicationError("the run has not begun", type="NotStarted")
        return self._view
