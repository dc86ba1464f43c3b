"""Structured logging: one JSON object per line (or a readable line in a terminal).

Also what keeps personal data and credentials out of log lines that other libraries write: the
access log (uvicorn) and the HTTP client's request log (httpx) print a request's path and query,
and an invitation link's path *is* its bearer token. `RedactTargets` rewrites those by rule, and
`reduced_error` gives an exception's type and our words instead of its message, which for a
driver or a mail server quotes the values it refused.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from temporalio.exceptions import ApplicationError

from core.settings import LogFormat

# Attributes every LogRecord has; anything else was passed through `extra=` and is a field.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{record.levelname[0]} {record.name}: {record.getMessage()}"
        if extras:
            line = f"{line}  {extras}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def configure_logging(*, level: str = "INFO", fmt: LogFormat = LogFormat.json) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == LogFormat.json else ConsoleFormatter())
    # On the handler: every logger's records, including those of loggers not named above.
    handler.addFilter(RedactTargets())
    handler.addFilter(ReduceExceptions())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn installs its own handlers; route them through ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    install_redaction()


# -- redaction of request targets --------------------------------------------------------------

MASK = "***"
# Query parameters whose values are kept: paging and enum filters, never free text. Any other
# parameter (case_manager, q, email, a future one) keeps its name and loses its value.
SAFE_QUERY_PARAMS = frozenset(
    {
        "limit",
        "offset",
        "status",
        "new_default",
        # Durations, dates, flags and sort keys: never personal (unlike `q` or `case_manager`).
        "stuck_for",
        "scheduled_from",
        "scheduled_to",
        "invitation_state",
        "muted",
        "sort",
    }
)
# A path segment after one of these is a credential (the signed invitation token, the console's
# single-use sign-in link).
_SECRET_AFTER = frozenset({"invitations", "sign-in"})
# Defence in depth for routes not named above: anything that looks like an e-mail address or a
# signed token (two base64url parts joined by a dot) is masked wherever it sits in the path.
_LOOKS_SECRET = re.compile(r"@|%40|^[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}$")


def redact_path(path: str) -> str:
    """`/v1/invitations/<token>/accept` -> `/v1/invitations/***/accept`."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        if (i > 0 and parts[i - 1] in _SECRET_AFTER) or _LOOKS_SECRET.search(part):
            parts[i] = MASK
    return "/".join(parts)


def redact_query(query: str) -> str:
    """Values of parameters outside `SAFE_QUERY_PARAMS` become `***`; names stay, for ops."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(
        f"{quote(name, safe='')}={quote(value, safe='') if name in SAFE_QUERY_PARAMS else MASK}"
        for name, value in pairs
    )


def redact_target(target: str) -> str:
    """A request target (`/path?query`) or an absolute URL, secrets and personal data masked."""
    parts = urlsplit(target)
    return urlunsplit(
        (parts.scheme, parts.netloc, redact_path(parts.path), redact_query(parts.query), "")
    )


class RedactTargets(logging.Filter):
    """Masks request targets in the arguments of uvicorn's access log and httpx's request log.

    Both log with %-style arguments (`'%s - "%s %s HTTP/%s" %d'`, `'HTTP Request: %s %s ...'`):
    any argument that is a path or an absolute URL is rewritten before any handler formats it.
    A filter on the logger, not a handler, so that it holds whatever handlers are attached
    (ours, uvicorn's defaults, pytest's capture).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        return True


def _redact_arg(arg: Any) -> Any:
    if isinstance(arg, int | float) or arg is None:
        return arg
    text = str(arg)  # httpx passes an httpx.URL
    if text.startswith(("/", "http://", "https://")):
        return redact_target(text)
    return arg


class ReduceExceptions(logging.Filter):
    """Replaces a record's exception (whose message and causes' messages a formatter would print)
    by `error_type`, `error` (reduced), `causes` and `stack` fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            for name, value in exception_fields(exc).items():
                record.__dict__.setdefault(name, value)
            record.exc_info, record.exc_text = None, None
        return True


_TARGET_LOGGERS = ("uvicorn.access", "httpx")
# Loggers that log exceptions raised by code below them with exc_info: uvicorn's "Exception in
# ASGI application" (Starlette re-raises after our 500 handler), the SDK's "Completing activity
# as failed" and workflow task failures. A filter on a logger covers that logger's own records
# only (not its children's), hence each by name; configure_logging's handler covers the rest.
_EXCEPTION_LOGGERS = (
    "uvicorn.error",
    "temporalio.activity",
    "temporalio.workflow",
    "temporalio.worker._activity",
    "temporalio.worker._workflow",
    "temporalio.worker._workflow_instance",
    "temporalio.worker._worker",
)


def install_redaction() -> None:
    """Put the redacting filters on the loggers that print request targets or exceptions;
    idempotent. Called by `configure_logging` and by whatever starts uvicorn without it
    (devstack.serving)."""
    for names, kind in ((_TARGET_LOGGERS, RedactTargets), (_EXCEPTION_LOGGERS, ReduceExceptions)):
        for name in names:
            target = logging.getLogger(name)
            if not any(isinstance(f, kind) for f in target.filters):
                target.addFilter(kind())


# -- exceptions in our words --------------------------------------------------------------------


def reduced_error(exc: BaseException) -> str:
    """An exception as a log line may show it: its type and codes, never its message.

    Drivers and servers quote what they refused (PostgreSQL's detail "Key (email)=(...)", an SMTP
    reply "<address>: unknown user", an HTTP error's URL with its query): the message is not ours
    to vouch for. Codes are: SQLSTATE, SMTP reply codes, HTTP status.
    """
    kind = type(exc).__name__
    if isinstance(exc, ApplicationError):
        # Raised by our activities, in our words by convention (their causes are not).
        return f"{kind}: {exc.message}" + (f" [{exc.type}]" if exc.type else "")
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        return f"{kind} [SQLSTATE {sqlstate}]"
    code = getattr(exc, "code", None)
    if isinstance(code, int) and type(exc).__module__.startswith("aiosmtplib"):
        return f"{kind} [SMTP {code}]"
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return f"{kind} [HTTP {status}]"
    return kind


def exception_fields(exc: BaseException) -> dict[str, Any]:
    """What a log record may carry of an exception: type, reduced message, the chain of causes
    (reduced too) and where it was raised."""
    causes: list[str] = []
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    while cause is not None and len(causes) < 5:
        causes.append(reduced_error(cause))
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)
    fields: dict[str, Any] = {
        "error_type": type(exc).__name__,
        "error": reduced_error(exc),
        "stack": stack_summary(exc),
    }
    if causes:
        fields["causes"] = causes
    return fields


def stack_summary(exc: BaseException, *, limit: int = 12) -> list[str]:
    """Where an exception was raised, frame by frame (file:line in function), without the
    messages of it or of its causes: enough to find the bug, nothing of the data."""
    frames = traceback.extract_tb(exc.__traceback__)[-limit:]
    return [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in frames]
