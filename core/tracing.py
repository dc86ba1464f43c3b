"""OpenTelemetry tracing: one trace from an API request through the workflow's activities.

The API's server span is the parent of the Temporal client's `StartWorkflow` span; Temporal's
tracing interceptor carries that context in the workflow's headers, so the worker's workflow and
activity spans join the same trace, however long the workflow waits between them.

Each process builds its own provider (`onboarding-api`, `onboarding-worker`) and hands it to what
traces (the client factory, the FastAPI instrumentation) instead of installing it as the global
provider: a global can be set once per process, so two processes' worth of spans in one test
process, or a second app, could not have their own service name or exporter.

No collector by default: tracing is on only when an OTLP endpoint is configured, so tests and
`make dev` run without one. Whatever the exporter, spans pass `RedactingExporter` first: a span is
kept by a third party for weeks, so it gets the rules of a log line (core/logging.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import DEPLOYMENT_ENVIRONMENT, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Status
from opentelemetry.trace import TracerProvider as AnyTracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes, AttributeValue
from temporalio.contrib.opentelemetry import TracingInterceptor

from core.logging import redact_path
from core.settings import Settings

API_SERVICE = "onboarding-api"
WORKER_SERVICE = "onboarding-worker"

# Requests polled every few seconds by probes and Prometheus: their traces would drown the ones
# that matter. Regexes searched in the request URL (FastAPI instrumentation's `excluded_urls`).
UNTRACED_URLS = r"/healthz$,/metrics$"


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector: `/v1/traces` under the base URL that
    OTEL_EXPORTER_OTLP_ENDPOINT names by convention (kept as is when already there)."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def tracer_provider(
    settings: Settings, *, service: str, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """The spans of one process, redacted and exported in batches: to `exporter` when given
    (tests pass an in-memory one), else over OTLP/HTTP to `settings.otlp_endpoint`; None, no
    tracing, when neither is there. The caller shuts it down at exit, which flushes it.

    OTLP headers (a collector's API key) come from the standard OTEL_EXPORTER_OTLP_HEADERS.
    """
    if exporter is None:
        if settings.otlp_endpoint is None:
            return None
        exporter = OTLPSpanExporter(endpoint=traces_url(settings.otlp_endpoint))
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: service, DEPLOYMENT_ENVIRONMENT: settings.env}),
        # A worker's spans follow the decision taken for the request that started the workflow
        # (carried in its headers), so a trace is kept whole or not at all.
        sampler=ParentBased(TraceIdRatioBased(settings.tracing_sample_ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(RedactingExporter(exporter)))
    return provider


def temporal_interceptor(provider: AnyTracerProvider) -> TracingInterceptor:
    """Temporal's tracing interceptor over `provider`, carrying the trace context only.

    Its default also copies the W3C baggage of the current context into the workflow's
    headers, which Temporal stores in history unencrypted and keeps: a caller's `baggage`
    request header (anything a partner's platform put there) must not travel that far.
    """
    interceptor = TracingInterceptor(provider.get_tracer("onboarding.temporal"))
    interceptor.text_map_propagator = TraceContextTextMapPropagator()
    return interceptor


# -- redaction ---------------------------------------------------------------------------------

# URL attributes of both HTTP semantic-convention generations: path redacted as in the access
# log (an invitation's path is its token), query string dropped whole (free-text filters such as
# a case manager's name), credentials dropped.
_URL_ATTRIBUTES = frozenset({"http.url", "url.full", "http.target", "url.path"})
# A person's address is personal data (the access log, under its own retention, is where one
# may be looked up), a query string is dropped (above), and an exception's message quotes the
# values a driver or mail server refused (core.logging.reduced_error): its type stays.
_DROPPED_ATTRIBUTES = frozenset(
    {
        "url.query",
        "client.address",
        "http.client_ip",
        "net.peer.ip",
        "net.sock.peer.addr",
        "network.peer.address",
        "exception.message",
    }
)
# Temporal's interceptor and FastAPI's describe a failure as "Type: message".
_TYPE_NAME = re.compile(r"[A-Za-z_][\w.]*")
_FRAME = re.compile(r'^\s*File "')


def redact_url(url: str) -> str:
    """`https://host/v1/invitations/<token>/accept?q=x` -> `https://host/v1/invitations/***/accept`."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, redact_path(parts.path), "", ""))


def redact_attributes(attributes: Attributes) -> dict[str, AttributeValue]:
    redacted: dict[str, AttributeValue] = {}
    for key, value in (attributes or {}).items():
        if key in _DROPPED_ATTRIBUTES:
            continue
        if key in _URL_ATTRIBUTES and isinstance(value, str):
            value = redact_url(value)
        elif key == "exception.stacktrace" and isinstance(value, str):
            # Where it was raised, frame by frame; not the messages of it and its causes.
            value = "\n".join(line for line in value.splitlines() if _FRAME.match(line))
        redacted[key] = value
    return redacted


def redact_name(name: str, attributes: Mapping[str, object]) -> str:
    """Span names are route templates and Temporal type names; a name that carries a concrete
    path (an instrumentation without the route) is redacted like one."""
    route = attributes.get("http.route")
    return " ".join(
        word
        if word == route or not word.startswith(("/", "http://", "https://"))
        else redact_url(word)
        for word in name.split(" ")
    )


def redact_status(status: Status) -> Status:
    description = status.description
    if description is None:
        return status
    kind = description.split(":", 1)[0].strip()
    return Status(status.status_code, kind if _TYPE_NAME.fullmatch(kind) else None)


def redact_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of `span` that may leave the process."""
    attributes = span.attributes or {}
    return ReadableSpan(
        name=redact_name(span.name, attributes),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=redact_attributes(attributes),
        events=[
            Event(event.name, redact_attributes(event.attributes), event.timestamp)
            for event in span.events
        ],
        links=span.links,
        kind=span.kind,
        status=redact_status(span.status),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingExporter(SpanExporter):
    """Hands `redact_span` copies to the real exporter: the one place every span passes before
    it leaves the process, whichever library made it."""

    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._exporter.export([redact_span(span) for span in spans])

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._exporter.force_flush(timeout_millis)
