"""A firm's time zone: an IANA name (`Europe/Paris`, `America/New_York`) that zoneinfo knows."""

from __future__ import annotations

from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, Field

DEFAULT_TIME_ZONE = "Europe/Paris"
_REFUSAL = "must be an IANA time zone name such as Europe/Paris"


@cache
def _names() -> frozenset[str]:
    # ZoneInfo alone also opens files of the zone database that are no place's zone
    # (`posixrules`), and `localtime` is whatever the server's own zone is.
    return frozenset(available_timezones()) - {"localtime"}


def known_zone(name: str) -> str:
    """`name` if zoneinfo has that zone, else ValueError (a pydantic 422 naming the field)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # ValueError: not a zone key at all (an absolute path, `..`); either way the same answer.
        raise ValueError(_REFUSAL) from None
    if name not in _names():
        raise ValueError(_REFUSAL)
    return name


TimeZoneName = Annotated[
    str,
    Field(min_length=1, max_length=64, examples=["Europe/Paris"]),
    AfterValidator(known_zone),
]
