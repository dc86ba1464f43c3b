"""The service's own Prometheus metrics (the Temporal SDK's are served by its runtime: see
core/temporal.py).

Three kinds, each counted where it happens:
- HTTP: requests and latency by route template and status (api/metrics.py's middleware);
- worker counters: registry requests by answer, e-mails by outcome, rows removed by retention
  (the activities);
- failed and refused authentications by kind of credential (api/auth_failures.py);
- the PostgreSQL projection, read at scrape time by the API (api/metrics.py): onboardings by
  status, the stuck ones, imported rows settled.

Labels carry route templates, status codes and outcomes, never an id, a token or an address:
their values are few, and nothing personal reaches Prometheus.
"""

from __future__ import annotations

from http import HTTPStatus
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from domain.retention import Table

HTTP_REQUESTS = Counter(
    "onboarding_http_requests",
    "API requests answered, by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "onboarding_http_request_duration_seconds",
    "Time to answer an API request, by method, route template and status code",
    ["method", "route", "status"],
)
REGISTRY_REQUESTS = Counter(
    "onboarding_registry_requests",
    "Requests to the company registry, by answer: the HTTP status code, or timeout or "
    "unreachable when none came",
    ["code"],
)
EMAILS = Counter(
    "onboarding_emails",
    "E-mails by outcome: sent (accepted by the SMTP server), suppressed (client's "
    "notifications muted), bounced (refused for good)",
    ["outcome"],
)

AUTH_FAILURES = Counter(
    "onboarding_auth_failures",
    "Requests whose credential was refused, by kind of credential (api-key, invitation-token, "
    "codec-token) and outcome: failed (a wrong credential, counted against its address's "
    "budget) or refused (429: the address had spent its budget)",
    ["kind", "outcome"],
)
AUTH_KINDS = ("api-key", "invitation-token", "codec-token")

RETENTION_ROWS_REMOVED = Counter(
    "onboarding_retention_rows_removed",
    "Rows deleted by the retention schedule because they outlived their table's period, by table",
    ["table"],
)
RETENTION_TABLES = tuple(table.value for table in Table)
AUTH_OUTCOMES = ("failed", "refused")


# Series that alert rules and dashboards take a rate of exist from the start (at 0), so a first
# 429 or bounce is an increase Prometheus sees rather than a series appearing.
for _code in ("200", "429"):
    REGISTRY_REQUESTS.labels(code=_code)
for _outcome in ("sent", "suppressed", "bounced"):
    EMAILS.labels(outcome=_outcome)
for _table in RETENTION_TABLES:
    RETENTION_ROWS_REMOVED.labels(table=_table)
for _kind in AUTH_KINDS:
    for _outcome in AUTH_OUTCOMES:
        AUTH_FAILURES.labels(kind=_kind, outcome=_outcome)


# A label value taken from a request or an answer would let whoever sends it add series without
# bound (each one kept by every scrape for ever): what comes from outside is folded into these.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"
_STATUSES = frozenset(status.value for status in HTTPStatus)


def method_label(method: str) -> str:
    """The method as a label: one of the standard ones this API may serve, else OTHER."""
    return method if method in METHODS else OTHER_METHOD


def status_label(status: int) -> str:
    """A status code as a label: a registered code as itself, any other as its class (`5xx`)."""
    if status in _STATUSES:
        return str(status)
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


def registry_answered(code: int | str) -> None:
    """Count one registry request by its answer (a status code, or timeout / unreachable)."""
    REGISTRY_REQUESTS.labels(code=status_label(code) if isinstance(code, int) else code).inc()


def auth_failure(kind: str, outcome: str) -> None:
    """Count one refused credential (its kind and outcome are among the constants above)."""
    AUTH_FAILURES.labels(kind=kind, outcome=outcome).inc()


def retention_removed(table: str, rows: int) -> None:
    """Count rows the retention schedule deleted from a table (one of RETENTION_TABLES)."""
    RETENTION_ROWS_REMOVED.labels(table=table).inc(rows)


def email_outcome(outcome: str) -> None:
    """Count one e-mail by what became of it."""
    EMAILS.labels(outcome=outcome).inc()


def serve(bind_address: str) -> WSGIServer:
    """Serve this process's metrics (the registry above, with the process's own CPU and memory)
    at http://<bind_address>/metrics from a thread; `shutdown()` the server to stop it."""
    host, _, port = bind_address.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host.strip("[]"))
    return server


SEARCH_ATTRIBUTE_MISSING = Gauge(
    "onboarding_temporal_search_attribute_missing",
    "1 for each search attribute this release needs that the Temporal namespace lacks (or has "
    "with another type), 0 once present; set when the process starts and by the API's /healthz",
    ["name"],
)
