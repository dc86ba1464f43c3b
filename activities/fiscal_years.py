"""Where a later fiscal year's folders stand, recorded on the year for the API to read."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.fiscal_years import FoldersState
from store import folders
from store.pool import Pool

__all__ = ["FiscalYearActivities", "RecordFoldersStateInput", "RecordFoldersStateResult"]


class RecordFoldersStateInput(BaseModel):
    client_id: uuid.UUID
    starts_on: date
    state: FoldersState
    failure: str | None = None


class RecordFoldersStateResult(BaseModel):
    recorded: bool


class FiscalYearActivities:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    @activity.defn
    async def record_fiscal_year_folders(
        self, data: RecordFoldersStateInput
    ) -> RecordFoldersStateResult:
        # An UPDATE to a fixed value: any number of attempts leaves the same row.
        recorded = await folders.set_folders_state(
            self.pool,
            client_id=data.client_id,
            starts_on=data.starts_on,
            state=data.state.value,
            failure=data.failure,
        )
        if not recorded:
            # The API records the year before it starts the workflow: no row, no year to report.
            raise ApplicationError(
                f"client {data.client_id} has no fiscal year starting {data.starts_on}",
                type="FiscalYearMissing",
                non_retryable=True,
            )
        return RecordFoldersStateResult(recorded=True)
