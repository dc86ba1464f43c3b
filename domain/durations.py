"""Durations as ops type them: ISO 8601 in the API (`PT48H`), short forms on the command line
(`2d`, `36h`). Both are bounded, so a typo cannot reach PostgreSQL as an interval it rejects."""

from __future__ import annotations

import re
from datetime import timedelta

# Years and months are left out on purpose: their length depends on the calendar, and "stuck
# for P1M" would mean 28 to 31 days depending on the date. Weeks, days and clock units only.
_ISO = re.compile(
    r"^P(?:(?P<weeks>\d{1,6})W)?(?:(?P<days>\d{1,6})D)?"
    r"(?:T(?:(?P<hours>\d{1,7})H)?(?:(?P<minutes>\d{1,9})M)?(?:(?P<seconds>\d{1,11})S)?)?$"
)
ISO_PATTERN = _ISO.pattern
_SHORT = re.compile(r"^(?P<number>\d{1,9})\s*(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Ten years: far beyond any onboarding's life, far inside PostgreSQL's timestamp range.
MAX_DURATION = timedelta(days=3660)


def parse_iso(text: str) -> timedelta:
    """`PT48H`, `P2D`, `P1W`, `P1DT12H`: a duration in weeks, days, hours, minutes, seconds."""
    match = _ISO.match(text.strip())
    if match is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise ValueError(
            "is not an ISO 8601 duration in weeks, days, hours, minutes or seconds "
            "(e.g. PT48H or P2D; years and months are not accepted)"
        )
    parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    return _bounded(timedelta(**parts))


def parse_short(text: str) -> timedelta:
    """`2d`, `36h`, `90m`, `1w`, `45s`; an ISO 8601 duration is accepted too."""
    cleaned = text.strip().lower()
    if cleaned.startswith("p"):
        return parse_iso(cleaned.upper())
    match = _SHORT.match(cleaned)
    if match is None:
        raise ValueError("is not a duration like 2d, 36h, 90m, 1w (or ISO 8601, e.g. PT48H)")
    return _bounded(timedelta(**{_UNITS[match["unit"]]: int(match["number"])}))


def _bounded(duration: timedelta) -> timedelta:
    if duration > MAX_DURATION:
        raise ValueError(f"is longer than {MAX_DURATION.days} days")
    return duration
