"""The service's own Prometheus metrics (the Temporal SDK's are served by its runtime: see
core/temporal.py).

Three kinds, each counted where it happens:
- HTTP: requests and latency by route template and status (api/metrics.py's middleware);
- worker counters: registry requests by answer, e-mails by outcome (the activities);
- the PostgreSQL projection, read at scrape time by the API (api/metrics.py): onboardings by
  status, the stuck ones, imported rows settled.

Labels carry route templates, status codes and outcomes, never an id, a token or an address:
their values are few, and nothing personal reaches Prometheus.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

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


# Series that alert rules and dashboards take a rate of exist from the start (at 0), so a first
# 429 or bounce is an increase Prometheus sees rather than a series appearing.
for _code in ("200", "429"):
    REGISTRY_REQUESTS.labels(code=_code)
for _outcome in ("sent", "suppressed", "bounced"):
    EMAILS.labels(outcome=_outcome)


def registry_answered(code: int | str) -> None:
    """Count one registry request by its answer."""
    REGISTRY_REQUESTS.labels(code=str(code)).inc()


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
