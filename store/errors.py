"""PostgreSQL errors that no retry can cure, told apart from outages, in our own words.

A data error (text PostgreSQL cannot store, a value too long, a violated constraint) comes back
identical on every attempt: retrying it for ever only hides it. An outage (connection refused,
server restarting, a deadlock) passes. `data_error_reason` names the first kind and nothing else.

The reason never repeats PostgreSQL's own message or detail: those quote the offending values
("Key (email)=(...)"), which are personal data, and the reason ends up in logs, in the onboarding's
status and in Temporal's history. Column and constraint names are schema, and are kept.
"""

from __future__ import annotations

import asyncpg

_KINDS = {
    "22001": "a value too long for its column",
    "22003": "a number out of range",
    "22007": "an invalid date or time",
    "22008": "a date or time out of range",
    "22021": "text with a character PostgreSQL cannot store",
    "22P02": "a value of the wrong form",
    "22P05": "text with a character PostgreSQL cannot store",
    "23502": "a required value missing",
    "23503": "a reference to a row that does not exist",
    "23505": "a duplicate of an existing row",
    "23514": "a value the table's rules refuse",
}

DATA_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    # asyncpg encodes text to UTF-8 before sending it: a lone surrogate fails here, client side.
    UnicodeEncodeError,
)


def data_error_reason(exc: BaseException) -> str | None:
    """Our words for a data error that retrying cannot fix, or None for anything else."""
    if isinstance(exc, UnicodeEncodeError):
        return "PostgreSQL refused the data: text with a character it cannot store"
    if not isinstance(exc, asyncpg.DataError | asyncpg.IntegrityConstraintViolationError):
        return None
    state = getattr(exc, "sqlstate", None) or ""
    kind = _KINDS.get(state, "data it cannot store")
    where = [
        f"{label} {name}"
        for label, name in (
            ("table", getattr(exc, "table_name", None)),
            ("column", getattr(exc, "column_name", None)),
            ("constraint", getattr(exc, "constraint_name", None)),
        )
        if name
    ]
    suffix = f" ({', '.join(where)})" if where else ""
    return f"PostgreSQL refused the data: {kind}{suffix} [SQLSTATE {state or 'unknown'}]"
