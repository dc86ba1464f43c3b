"""Later fiscal years of a client: the request, where a new year may go, and the models of the
workflow that creates its month folders. Pure: the API passes today's date in."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.exact import ExactBool, ExactDate
from domain.fiscal_calendar import FiscalYear
from domain.onboarding import FISCAL_YEAR_EARLIEST

__all__ = [
    "FiscalYearCreate",
    "FiscalYearInput",
    "FiscalYearRefused",
    "FiscalYearView",
    "FoldersState",
    "check_new_year",
    "workflow_id_for",
]


class FiscalYearCreate(BaseModel):
    """A later fiscal year of a client."""

    model_config = ConfigDict(extra="forbid")

    start: ExactDate
    end: ExactDate | None = Field(default=None, description="Default: start + 12 months - 1 day")
    after_gap: ExactBool = Field(
        default=False,
        description="The year starts later than the day after the client's last fiscal year "
        "ends (a dormant period); without it, a gap is refused. Years never overlap.",
    )


class FoldersState(StrEnum):
    creating = "creating"
    done = "done"
    failed = "failed"


class FiscalYearInput(BaseModel):
    """Input of FiscalYearWorkflow: everything fixed when the firm asked."""

    client_id: uuid.UUID
    partner_id: uuid.UUID
    # The client's folder tree (its setup snapshot); None: no folders, the year only.
    folder_tree: str | None
    fiscal_year: FiscalYear
    language: str


class FiscalYearView(BaseModel):
    """What the workflow's `status` query and its result say."""

    client_id: uuid.UUID
    start: date
    end: date
    state: FoldersState
    folders_planned: int | None = None
    folders_created: int | None = Field(
        default=None, description="By the attempt that finished; 0 when earlier ones made them"
    )
    attempts: int = 0
    failure: str | None = Field(default=None, description="An error type, in our words")


def workflow_id_for(client_id: uuid.UUID, start: date) -> str:
    """One workflow per client and fiscal-year start: a repeated request finds the same one.
    Ids only, no personal data (workflow ids are stored in clear)."""
    return f"fiscal-year-{client_id}-{start.isoformat()}"


class FiscalYearRefused(Exception):
    """The request names a fiscal year the client cannot get; `field` is the one to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _first_error(exc: ValidationError) -> str:
    message = str(exc.errors()[0].get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def check_new_year(
    body: FiscalYearCreate, *, existing: Sequence[FiscalYear], today: date
) -> FiscalYear:
    """The fiscal year `body` asks for, if it may follow the client's `existing` years.

    The same bounds as the first year (FiscalYearIn): 1 to 24 months, starting between 1990 and
    next year. A later year starts the day after the last one ends, or later with `after_gap`;
    it never overlaps another, and never comes before the last one (the seeds: create the oldest
    year first, then the following ones).
    """
    latest = today.year + 1  # a calendar year, as for the first fiscal year
    if not FISCAL_YEAR_EARLIEST <= body.start.year <= latest:
        raise FiscalYearRefused(
            "start", f"the fiscal year must start between {FISCAL_YEAR_EARLIEST} and {latest}"
        )
    if body.end is not None and body.end <= body.start:
        raise FiscalYearRefused("end", f"must be after start ({body.start.isoformat()})")
    try:
        year = FiscalYear.from_start(body.start, body.end)
    except ValidationError as exc:
        raise FiscalYearRefused("end", _first_error(exc)) from None
    for other in existing:
        if other.start <= year.end and year.start <= other.end:
            field = "start" if other.start <= year.start <= other.end else "end"
            raise FiscalYearRefused(
                field,
                f"overlaps the fiscal year {other.start.isoformat()} to {other.end.isoformat()}",
            )
    if existing:
        last = max(existing, key=lambda y: y.end)
        follows = last.end + timedelta(days=1)
        if year.start < follows:
            raise FiscalYearRefused(
                "start",
                f"later fiscal years only: the client's last one ends on "
                f"{last.end.isoformat()}, so the next starts on {follows.isoformat()}",
            )
        if year.start > follows and not body.after_gap:
            raise FiscalYearRefused(
                "start",
                f"leaves a gap after the client's last fiscal year (ends on "
                f"{last.end.isoformat()}): start on {follows.isoformat()}, or send "
                f"after_gap: true",
            )
    return year
