"""Durations as ops type them: ISO 8601 for the API, short forms for the command line."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.durations import MAX_DURATION, parse_iso, parse_short


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT48H", timedelta(hours=48)),
        ("P2D", timedelta(days=2)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT12H30M", timedelta(days=1, hours=12, minutes=30)),
        ("PT90S", timedelta(seconds=90)),
        ("PT0S", timedelta(0)),
    ],
)
def test_iso_durations_in_clock_units_are_read(text: str, expected: timedelta) -> None:
    assert parse_iso(text) == expected


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "P1DT", "48h", "P1M", "P1Y", "-PT1H", "PT1.5H", "P1D2H", "P3661D"]
)
def test_iso_refuses_calendar_units_and_malformed_or_huge_values(text: str) -> None:
    """Months and years depend on the calendar; a huge value would overflow PostgreSQL's range."""
    with pytest.raises(ValueError):
        parse_iso(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2d", timedelta(days=2)),
        ("36h", timedelta(hours=36)),
        ("90m", timedelta(minutes=90)),
        ("1w", timedelta(weeks=1)),
        (" 45 s ", timedelta(seconds=45)),
        ("pt48h", timedelta(hours=48)),
    ],
)
def test_short_forms_and_iso_are_read_on_the_command_line(text: str, expected: timedelta) -> None:
    assert parse_short(text) == expected


@pytest.mark.parametrize(
    "text", ["two days", "2", "2 days", "-2d", "2y", f"{MAX_DURATION.days + 1}d"]
)
def test_short_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError):
        parse_short(text)
