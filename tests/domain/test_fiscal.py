"""Fiscal years: their allowed length, the calendar months they touch, month folder names."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.fiscal_calendar import FiscalYear, YearMonth, add_months, month_folder_name, months
from domain.onboarding import Language
from tests.domain_helpers import fiscal_years, starts


@pytest.mark.parametrize(
    ("day", "count", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 3, 15), -3, date(2025, 12, 15)),
        (date(2026, 12, 31), 0, date(2026, 12, 31)),
    ],
)
def test_add_months_clamps_to_month_end(day: date, count: int, expected: date) -> None:
    """Moving by months keeps the day of month, or the last day of a shorter month."""
    assert add_months(day, count) == expected


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 1, 1), date(2026, 12, 31)),
        (date(2026, 3, 15), date(2027, 3, 14)),
        (date(2026, 1, 31), date(2027, 1, 30)),
        (date(2024, 2, 29), date(2025, 2, 27)),
        (date(2026, 12, 1), date(2027, 11, 30)),
    ],
)
def test_from_start_defaults_to_twelve_months(start: date, end: date) -> None:
    """Without an end, the year is start + 12 months - 1 day, month ends clamped."""
    assert FiscalYear.from_start(start) == FiscalYear(start=start, end=end)


def test_from_start_keeps_explicit_end() -> None:
    """An explicit end makes an irregular year, validated like any other."""
    fiscal_year = FiscalYear.from_start(date(2026, 3, 15), date(2027, 12, 31))
    assert (fiscal_year.start, fiscal_year.end) == (date(2026, 3, 15), date(2027, 12, 31))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 1, 1), date(2026, 1, 31)),  # exactly 1 month
        (date(2026, 1, 1), date(2027, 12, 31)),  # exactly 24 months
        (date(2026, 1, 15), date(2026, 2, 14)),
        (date(2026, 1, 15), date(2028, 1, 14)),
        (date(2026, 11, 20), date(2026, 12, 31)),  # short first year closing at year end
        (date(2026, 3, 15), date(2027, 12, 31)),  # long first year closing at year end
    ],
)
def test_fiscal_year_accepts_one_to_twenty_four_months(start: date, end: date) -> None:
    """Both bounds are inclusive."""
    assert FiscalYear(start=start, end=end).end == end


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (date(2026, 1, 1), date(2026, 1, 1), "must end after it starts"),
        (date(2026, 1, 1), date(2025, 12, 31), "must end after it starts"),
        (date(2026, 1, 1), date(2026, 1, 30), "must last at least 1 month.*2026-01-31 or later"),
        (date(2026, 12, 10), date(2026, 12, 31), "must last at least 1 month.*2027-01-09"),
        (date(2026, 1, 1), date(2028, 1, 1), "must last at most 24 months.*2027-12-31 or earlier"),
        (date(2026, 1, 15), date(2028, 1, 15), "must last at most 24 months.*2028-01-14"),
    ],
)
def test_fiscal_year_rejects_bad_length_with_reason(start: date, end: date, message: str) -> None:
    """Too short, too long or backwards years fail with the limit they broke."""
    with pytest.raises(ValidationError, match=message):
        FiscalYear(start=start, end=end)


def test_fiscal_year_is_immutable() -> None:
    """A validated year cannot be changed into an invalid one afterwards."""
    fiscal_year = FiscalYear.from_start(date(2026, 1, 1))
    with pytest.raises(ValidationError):
        fiscal_year.end = date(2030, 1, 1)  # type: ignore[misc]


def test_months_of_calendar_year_are_its_twelve_months() -> None:
    """2026-01-01..2026-12-31 touches January to December 2026."""
    assert months(FiscalYear.from_start(date(2026, 1, 1))) == [
        YearMonth(year=2026, month=m) for m in range(1, 13)
    ]


def test_months_of_mid_month_year_include_both_partial_months() -> None:
    """2026-03-15..2027-03-14 touches 13 months: March 2026 to March 2027."""
    result = months(FiscalYear.from_start(date(2026, 3, 15)))
    assert len(result) == 13
    assert result[0] == YearMonth(year=2026, month=3)
    assert result[-1] == YearMonth(year=2027, month=3)


def test_months_of_longest_mid_month_year_are_twenty_five() -> None:
    """A 24-month year starting mid-month touches 25 calendar months."""
    assert len(months(FiscalYear(start=date(2026, 1, 15), end=date(2028, 1, 14)))) == 25


@given(fiscal_years())
def test_months_cover_the_year_contiguously(fiscal_year: FiscalYear) -> None:
    """Months are consecutive, the first holds the start, the last the end, none repeats."""
    result = months(fiscal_year)
    assert result[0].first_day <= fiscal_year.start <= result[0].last_day
    assert result[-1].first_day <= fiscal_year.end <= result[-1].last_day
    for previous, current in pairwise(result):
        assert current.first_day == previous.last_day + timedelta(days=1)
    distinct = {
        (day.year, day.month)
        for day in (
            fiscal_year.start + timedelta(days=n)
            for n in range((fiscal_year.end - fiscal_year.start).days + 1)
        )
    }
    assert len(result) == len(distinct)
    assert 1 <= len(result) <= 25


@given(starts)
def test_from_start_default_year_touches_twelve_or_thirteen_months(start: date) -> None:
    """A default year from the 1st spans 12 calendar months; from any other day, 13."""
    assert len(months(FiscalYear.from_start(start))) == (12 if start.day == 1 else 13)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("fr", "2026-01 Janvier"),
        ("nl", "2026-01 Januari"),
        ("en", "2026-01 January"),
        ("de", "2026-01 Januar"),
        (Language.fr, "2026-01 Janvier"),
        ("fr-BE", "2026-01 Janvier"),
        ("nl_BE", "2026-01 Januari"),
        ("DE", "2026-01 Januar"),
        ("es", "2026-01 January"),
        ("", "2026-01 January"),
    ],
)
def test_month_folder_name_by_language(language: str, expected: str) -> None:
    """Each supported language names the month; regional tags use their base, others English."""
    assert month_folder_name(2026, 1, language) == expected


@pytest.mark.parametrize(
    ("month", "language", "expected"),
    [
        (2, "fr", "2026-02 Février"),
        (8, "fr", "2026-08 Août"),
        (12, "fr", "2026-12 Décembre"),
        (3, "nl", "2026-03 Maart"),
        (3, "de", "2026-03 März"),
        (12, "de", "2026-12 Dezember"),
        (5, "en", "2026-05 May"),
    ],
)
def test_month_folder_name_spells_accented_months(month: int, language: str, expected: str) -> None:
    """Month names keep their accents and the month number is zero-padded."""
    assert month_folder_name(2026, month, language) == expected


@given(st.integers(min_value=1, max_value=9999), st.sampled_from(["fr", "nl", "en", "de"]))
def test_month_folder_names_sort_chronologically_and_are_nfc(year: int, language: str) -> None:
    """Names of a year's months sort in calendar order and are NFC, like template names."""
    names = [month_folder_name(year, month, language) for month in range(1, 13)]
    assert sorted(names) == names
    assert len(set(names)) == 12
    assert all(unicodedata.is_normalized("NFC", name) for name in names)


@pytest.mark.parametrize(("year", "month"), [(2026, 0), (2026, 13), (0, 1), (10000, 1)])
def test_month_folder_name_rejects_out_of_range(year: int, month: int) -> None:
    """A month outside 1..12 or a year outside 1..9999 is a programming error, raised at once."""
    with pytest.raises(ValueError, match=r"must be in 1\.\."):
        month_folder_name(year, month, "fr")
