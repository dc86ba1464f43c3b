"""RetentionWorkflow: every table under a retention policy trimmed, one after another.

Started by a Temporal schedule (worker/retention.py registers it when a worker starts), so it
runs once per period on the fleet whatever the number of workers, and a run that overlaps the
next is skipped rather than doubled.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    # Passed through: the workflow only uses their pydantic models and method references.
    from activities.retention import PurgeInput, PurgeResult, RetentionActivities
    from domain.retention import Table

# A table with years of rows takes many batches: the heartbeat, not the whole run, shows it is
# alive. PostgreSQL down for a while delays the trim; the next day's run catches up anyway.
PURGE_TIMEOUT = timedelta(hours=2)
PURGE_HEARTBEAT = timedelta(minutes=2)
PURGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=5,
)


class RetentionInput(BaseModel):
    """Which tables to trim; every one under a policy unless the caller names some."""

    tables: list[Table] = list(Table)


class RetentionResult(BaseModel):
    tables: list[PurgeResult]


@workflow.defn
class RetentionWorkflow:
    @workflow.run
    async def run(self, data: RetentionInput) -> RetentionResult:
        results = []
        for table in data.tables:
            results.append(
                await workflow.execute_activity_method(
                    RetentionActivities.purge_table,
                    PurgeInput(table=table),
                    start_to_close_timeout=PURGE_TIMEOUT,
                    heartbeat_timeout=PURGE_HEARTBEAT,
                    retry_policy=PURGE_RETRY,
                )
            )
        return RetentionResult(tables=results)
