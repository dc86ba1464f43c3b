"""What a bulk import workflow carries and reports (workflow-safe: pure models)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

# Why a valid row has no onboarding after its import was cancelled before reaching it.
CANCELLED_BEFORE_START = "import cancelled before this row started"
# ...and when Temporal refused to start it (in practice: the row's onboarding is too large).
START_REFUSED = "its onboarding could not be started: too large"


class ImportCounts(BaseModel):
    started: int = 0
    skipped: int = Field(default=0, description="Valid rows not onboarded: already a client")
    ready: int = 0
    waiting_for_input: int = 0
    failed: int = 0


class BulkImportInput(BaseModel):
    """Input of BulkImportWorkflow; also what it carries across continue-as-new."""

    import_id: uuid.UUID
    partner_id: uuid.UUID
    created_by: uuid.UUID | None = None
    window: int = Field(default=50, ge=1, description="Onboardings setting up at the same time")
    batch_size: int = Field(default=100, ge=1)
    history_limit: int = Field(
        default=6000,
        ge=100,
        description="Continue as new past this many events (between batches): each run stays "
        "under history_limit + one batch (about one event a row), whatever the file's size",
    )
    # The rows' notifications.keep_muted, resolved from the firm's setting when the import was
    # started; None in imports started before that setting existed (their rows unmute).
    keep_muted: bool | None = None
    # Carried state:
    cursor: int = 0
    in_flight: list[int] = Field(default_factory=list)
    counts: ImportCounts = Field(default_factory=ImportCounts)
    exhausted: bool = False
    cancelled: bool = False
    runs: int = 1


class ImportProgress(BaseModel):
    import_id: uuid.UUID
    counts: ImportCounts
    in_flight: int
    cancelled: bool
    done: bool
    runs: int = Field(description="Workflow runs so far (continue-as-new keeps history small)")
    finished: bool = Field(
        default=False,
        description="The import is over: done, or cancelled and its unstarted rows given back",
    )


class RowSettled(BaseModel):
    row: int
    status: str
