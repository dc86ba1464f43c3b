"""Retention: one table's rows older than its period, deleted batch after batch.

Each batch is one short DELETE of its own (store/retention.py), never one long transaction that
would hold locks and bloat the table while it runs; a heartbeat follows each batch, so a worker
that dies mid-way is noticed within the heartbeat timeout and the activity retried. A retry
starts again from the oldest rows left: deleting what is already gone is a no-op.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio import activity

from core import metrics
from domain.retention import Table
from store import retention
from store.pool import Pool

__all__ = ["PurgeInput", "PurgeResult", "RetentionActivities"]


class PurgeInput(BaseModel):
    table: Table


class PurgeResult(BaseModel):
    table: Table
    rows: int
    batches: int = 0
    kept_for_ever: bool = False


class RetentionActivities:
    def __init__(self, pool: Pool, *, periods: dict[Table, float], batch_size: int) -> None:
        self.pool = pool
        self.periods = periods
        self.batch_size = batch_size

    @activity.defn
    async def purge_table(self, data: PurgeInput) -> PurgeResult:
        days = self.periods[data.table]
        if days <= 0:
            return PurgeResult(table=data.table, rows=0, kept_for_ever=True)
        # The worker's periods, read when it runs: a changed setting applies from the next run,
        # without touching the schedule.
        cutoff = datetime.now(UTC) - timedelta(days=days)
        delete = retention.DELETERS[data.table]
        rows = batches = 0
        while True:
            deleted = await delete(self.pool, cutoff=cutoff, limit=self.batch_size)
            if deleted:
                batches += 1
                rows += deleted
                metrics.retention_removed(data.table.value, deleted)
            activity.heartbeat(rows)
            if deleted < self.batch_size:
                return PurgeResult(table=data.table, rows=rows, batches=batches)
