"""Values exactly as the API schema types them: the boolean, date and date-time types of every
request model and query parameter.

Pydantic's lax mode reads `0`, `1`, `"yes"` or `"off"` as booleans and a number as a Unix time
(`?scheduled_to=0.5` is 1970-01-01T00:00:00.5Z), where the OpenAPI document promises a JSON
boolean and an RFC 3339 date-time. A caller's typo then becomes a silent, wrong answer instead
of a 422 naming the field (issue 20, finding 7). These types refuse what the schema refuses, and
keep the schema as it was (`boolean`, `format: date-time`, `format: date`).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Strict

# RFC 3339's date-time (the `T` may be a space or lower-case, as its section 5.6 note allows);
# the offset is left optional here so that AwareDatetime can say that it is missing.
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date_time_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not (isinstance(value, str) and _DATE_TIME.match(value)):
        raise ValueError("must be an RFC 3339 date-time, e.g. 2026-01-31T09:00:00Z")
    return value


def _date_text(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not (isinstance(value, str) and _DATE.match(value)):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


ExactBool = Annotated[bool, Strict()]
"""`true` or `false`, nothing that merely converts to one. Body fields only: a query string's
booleans are text by nature."""

ExactDateTime = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]
"""An RFC 3339 date-time with its offset, never a number."""

ExactDate = Annotated[date, BeforeValidator(_date_text)]
"""A calendar date as YYYY-MM-DD, never a number or a date-time."""
