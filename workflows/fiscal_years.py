"""FiscalYearWorkflow: the month folders of a client's later fiscal year, made once.

One run per client and fiscal-year start (the id says which, see `workflow_id_for`), so a
repeated request starts nothing twice. The folders come from the same activity as the
onboarding's folder step, which heartbeats its progress and, retried after a worker died,
resumes where it stopped; every insert skips folders that exist, so each is created once.
The year's row says where the work stands (creating, done, failed) for the API to list.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Passed through: the workflow only uses their pydantic models and method references.
    from activities.fiscal_years import FiscalYearActivities, RecordFoldersStateInput
    from activities.folders import CreateFoldersInput, FolderActivities
    from domain.fiscal_years import FiscalYearInput, FiscalYearView, FoldersState

    # The onboarding's folder step's timeout and heartbeat: the same activity, the same trees.
    from workflows.policies import FOLDERS_HEARTBEAT, FOLDERS_TIMEOUT

# As the onboarding's folder step: PostgreSQL briefly down delays the folders (about ten minutes
# of backed-off attempts), and an error no retry can fix ends the run at once. A failed run can
# be started again by the same request (the id reuse policy allows it after a failure only).
FOLDERS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=15,
    non_retryable_error_types=[
        "ClientMissing",
        "DataError",
        "FolderTreeInvalid",
        "FolderTreeMissing",
        "InvalidFiscalYear",
    ],
)
# Recording the state is a bookkeeping write: patient, so an outage delays it without failing
# the folders already made.
STATE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["DataError", "FiscalYearMissing"],
)
STATE_TIMEOUT = timedelta(seconds=30)
STATE_DEADLINE = timedelta(days=1)


def _failure_type(exc: BaseException) -> str:
    """The innermost error's type: shown in the status, so never its text (it may quote data)."""
    inner: BaseException = exc
    while inner.__cause__ is not None:
        inner = inner.__cause__
    if isinstance(inner, ApplicationError) and inner.type:
        return inner.type
    return type(inner).__name__


@workflow.defn
class FiscalYearWorkflow:
    def __init__(self) -> None:
        self._view: FiscalYearView | None = None

    @workflow.run
    async def run(self, data: FiscalYearInput) -> FiscalYearView:
        view = self._view = FiscalYearView(
            client_id=data.client_id,
            start=data.fiscal_year.start,
            end=data.fiscal_year.end,
            state=FoldersState.creating,
        )
        # A run started again after a failed one says so before it works.
        await self._record(view)
        try:
            result = await workflow.execute_activity_method(
                FolderActivities.create_folders,
                CreateFoldersInput(
                    client_id=data.client_id,
                    partner_id=data.partner_id,
                    folder_tree=data.folder_tree,
                    fiscal_year_start=data.fiscal_year.start,
                    fiscal_year_end=data.fiscal_year.end,
                    language=data.language,
                ),
                start_to_close_timeout=FOLDERS_TIMEOUT,
                heartbeat_timeout=FOLDERS_HEARTBEAT,
                retry_policy=FOLDERS_RETRY,
            )
        except ActivityError as exc:
            view.state = FoldersState.failed
            view.failure = _failure_type(exc)
            await self._record(view)
            # Failed, not completed: the id reuse policy then lets the same request try again.
            raise ApplicationError(
                f"the fiscal year's folders were not created: {view.failure}",
                type="FiscalYearFoldersFailed",
            ) from exc
        view.folders_planned = result.folders_planned
        view.folders_created = result.folders_created
        view.attempts = result.attempt
        view.state = FoldersState.done
        await self._record(view)
        return view

    async def _record(self, view: FiscalYearView) -> None:
        await workflow.execute_activity_method(
            FiscalYearActivities.record_fiscal_year_folders,
            RecordFoldersStateInput(
                client_id=view.client_id,
                starts_on=view.start,
                state=view.state,
                failure=view.failure,
            ),
            start_to_close_timeout=STATE_TIMEOUT,
            schedule_to_close_timeout=STATE_DEADLINE,
            retry_policy=STATE_RETRY,
        )

    @workflow.query
    def status(self) -> FiscalYearView:
        """Where the folders stand (before the run began: nothing to say yet)."""
        if self._view is None:
            raise ApplicationError("the run has not begun", type="NotStarted")
        return self._view
