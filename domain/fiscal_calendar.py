"""Fiscal-year calendar: a client's fiscal year, the calendar months it spans, month folder names.

Pure and deterministic (no clock, no locale module), so workflow code may call it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "MAX_FISCAL_YEAR_MONTHS",
    "MIN_FISCAL_YEAR_MONTHS",
    "MONTH_NAMES",
    "FiscalYear",
    "YearMonth",
    "add_months",
    "month_folder_name",
    "months",
]

# An irregular first (or last) fiscal year may be shorter or longer than 12 months; French law
# caps it at 24 months.
MIN_FISCAL_YEAR_MONTHS: Final = 1
MAX_FISCAL_YEAR_MONTHS: Final = 24


def add_months(day: date, count: int) -> date:
    """`day` moved by `count` calendar months, clamped to the end of a shorter month.

    2026-01-31 + 1 month = 2026-02-28; 2024-02-29 + 12 months = 2025-02-28.
    """
    year, month_index = divmod(day.year * 12 + day.month - 1 + count, 12)
    return date(year, month_index + 1, min(day.day, _days_in_month(year, month_index + 1)))


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - timedelta(days=1)).day


def _end_after_months(start: date, count: int) -> date:
    # The last day of a period of `count` months starting on `start`.
    return add_months(start, count) - timedelta(days=1)


class YearMonth(BaseModel):
    """One calendar month."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    year: int = Field(ge=1, le=9999)
    month: int = Field(ge=1, le=12)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, _days_in_month(self.year, self.month))


class FiscalYear(BaseModel):
    """A fiscal year from `start` to `end`, both inclusive, lasting 1 to 24 months.

    "1 month" and "24 months" are counted as `from_start` counts 12: from 2026-01-15, the shortest
    year ends on 2026-02-14 and the longest on 2028-01-14.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: date
    end: date

    @model_validator(mode="after")
    def _check_length(self) -> Self:
        if self.end <= self.start:
            raise ValueError(
                f"fiscal year must end after it starts (start {self.start}, end {self.end})"
            )
        shortest = _end_after_months(self.start, MIN_FISCAL_YEAR_MONTHS)
        if self.end < shortest:
            raise ValueError(
                f"fiscal year must last at least {MIN_FISCAL_YEAR_MONTHS} month: "
                f"starting on {self.start}, it must end on {shortest} or later, not {self.end}"
            )
        longest = _end_after_months(self.start, MAX_FISCAL_YEAR_MONTHS)
        if self.end > longest:
            raise ValueError(
                f"fiscal year must last at most {MAX_FISCAL_YEAR_MONTHS} months: "
                f"starting on {self.start}, it must end on {longest} or earlier, not {self.end}"
            )
        return self

    @classmethod
    def from_start(cls, start: date, end: date | None = None) -> FiscalYear:
        """The fiscal year starting on `start`; without `end`, the 12 months that follow.

        2026-01-01 -> 2026-12-31, 2026-03-15 -> 2027-03-14, 2026-01-31 -> 2027-01-30.
        """
        if end is None:
            end = _end_after_months(start, 12)
        return cls(start=start, end=end)


def months(fiscal_year: FiscalYear) -> list[YearMonth]:
    """Every calendar month with at least one day in the fiscal year, in order.

    A year that does not start on the 1st touches 13 calendar months (2026-03-15..2027-03-14:
    March 2026 to March 2027), and each of them gets its folder, since documents dated in either
    partial month belong to this year. A 24-month year can therefore touch 25 months.
    """
    first = fiscal_year.start.year * 12 + fiscal_year.start.month - 1
    last = fiscal_year.end.year * 12 + fiscal_year.end.month - 1
    return [YearMonth(year=index // 12, month=index % 12 + 1) for index in range(first, last + 1)]


MONTH_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "fr": (
        "Janvier",
        "Février",
        "Mars",
        "Avril",
        "Mai",
        "Juin",
        "Juillet",
        "Août",
        "Septembre",
        "Octobre",
        "Novembre",
        "Décembre",
    ),
    "nl": (
        "Januari",
        "Februari",
        "Maart",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Augustus",
        "September",
        "Oktober",
        "November",
        "December",
    ),
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
}


def month_folder_name(year: int, month: int, language: str) -> str:
    """The folder name of one month, e.g. "2026-01 Janvier"; it sorts chronologically by name.

    `language` is "fr", "nl", "en" or "de"; a regional tag ("fr-BE", "nl_BE") uses its base
    language, and any other language gets English names rather than failing the onboarding.
    """
    if not 1 <= month <= 12:
        raise ValueError(f"month must be in 1..12, got {month}")
    if not 1 <= year <= 9999:
        raise ValueError(f"year must be in 1..9999, got {year}")
    base = str(language).strip().lower().replace("_", "-").split("-", 1)[0]
    names = MONTH_NAMES.get(base, MONTH_NAMES["en"])
    return f"{year:04d}-{month:02d} {names[month - 1]}"
