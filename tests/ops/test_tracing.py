"""Tracing: one trace from `POST /v1/onboardings` through every activity of the workflow, the API
and the worker each under its own service name, and nothing personal nor any token in a span."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote_plus

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from temporalio.client import Client
from temporalio.worker import Worker

from api.deps import Services
from api.main import create_app
from core import temporal, tracing
from core.settings import Settings
from devstack.ports import free_port
from devstack.registry_standin import RegistryStandin
from devstack.serving import serve_app
from devstack.smtp_sink import SmtpSink
from store.pool import Pool
from tests.e2e.helpers import ACCEPT, wait_status

FIRST, LAST = "Gwenaëlle", "Vercruysse"
EMAIL = "gwenaelle.vercruysse@mailbox.example"
CASE_MANAGER = "Ottoline Brabançon"
PERSONAL = [FIRST, LAST, EMAIL, CASE_MANAGER]
CALLER_TRACE, CALLER_SPAN = 0x5CA1AB1E0DDBA11C0FFEE15600D7EA57, 0x0B57AC1E5EED1E55


@dataclass
class Traced:
    """What each process exports: the API's and the worker's providers, one in-memory sink."""

    api: TracerProvider
    worker: TracerProvider
    exported: InMemorySpanExporter

    def spans(self) -> tuple[ReadableSpan, ...]:
        self.api.force_flush()
        self.worker.force_flush()
        return self.exported.get_finished_spans()


@pytest.fixture
def traced(settings: Settings) -> Iterator[Traced]:
    exported = InMemorySpanExporter()
    api = tracing.tracer_provider(settings, service=tracing.API_SERVICE, exporter=exported)
    worker = tracing.tracer_provider(settings, service=tracing.WORKER_SERVICE, exporter=exported)
    assert api is not None and worker is not None
    try:
        yield Traced(api=api, worker=worker, exported=exported)
    finally:
        api.shutdown()
        worker.shutdown()


@pytest.fixture
async def client(settings: Settings, traced: Traced) -> Client:
    """The worker's client as `onboarding worker` connects it with tracing on; the session's
    `worker` fixture builds the workers from it, with no interceptor of their own."""
    return await temporal.connect(settings, tracer_provider=traced.worker)


@pytest.fixture
async def api_server(
    settings: Settings, pool: Pool, traced: Traced
) -> AsyncIterator[httpx.AsyncClient]:
    """The API as `onboarding api` runs it with tracing on: its own provider and client."""
    api_client = await temporal.connect(settings, tracer_provider=traced.api)
    app = create_app(
        settings,
        services=Services(settings=settings, pool=pool, temporal=api_client),
        tracer_provider=traced.api,
    )
    async with serve_app(app) as http:
        yield http


def only(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    [span] = [s for s in spans if s.name == name]
    return span


def service(span: ReadableSpan) -> object:
    return span.resource.attributes.get("service.name")


def ancestors(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[str]:
    """Names of the span's parents, nearest first, as far as the exported spans reach."""
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    names: list[str] = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        found = by_id[parent.span_id]
        names.append(found.name)
        parent = found.parent
    return names


def span_text(span: ReadableSpan) -> str:
    """All a collector receives of a span, URL-decoded too (a query carries `%40` for `@`)."""
    parts = [span.name, repr(dict(span.attributes or {})), repr(span.status.description)]
    parts += [f"{e.name} {dict(e.attributes or {})!r}" for e in span.events]
    text = "\n".join(parts)
    return f"{text}\n{unquote_plus(text)}".lower()


async def test_one_trace_runs_from_the_post_through_the_last_activity(
    api: httpx.AsyncClient,
    client: Client,
    worker: Worker,
    smtp_sink: SmtpSink,
    registry: RegistryStandin,
    traced: Traced,
) -> None:
    """The POST's server span is the ancestor of every activity span, through the director's
    acceptance (another request) to the activity that completes the onboarding; the API and
    the worker name themselves; no span holds the client's names, e-mail or the token."""
    response = await api.post(
        "/v1/onboardings",
        json={
            "client": {
                "first_name": FIRST,
                "last_name": LAST,
                "email": EMAIL,
                "language": "fr",
                "siret": "552 032 534 00646",
                "case_manager": CASE_MANAGER,
            },
            "fiscal_year": {"start": "2026-01-01"},
        },
        # A caller's own trace context and baggage, as a partner's traced platform sends them.
        headers={
            "Idempotency-Key": f"trace-{uuid.uuid4()}",
            "traceparent": f"00-{CALLER_TRACE:032x}-{CALLER_SPAN:016x}-01",
            "baggage": f"client.email={quote(EMAIL)}",
        },
    )
    assert response.status_code == 202, response.text
    onboarding_id = response.json()["id"]
    assert (await wait_status(api, onboarding_id, "READY", "FAILED"))["status"] == "READY"
    [mail] = [m for m in await smtp_sink.handler.arrived(1) if EMAIL in m.rcpt_tos]
    text = mail.message.get_body(preferencelist=("plain",))
    assert text is not None
    accept = ACCEPT.search(text.get_content())
    assert accept, "the invitation carries its accept link"
    link = accept.group(1)
    token = link.rsplit("/", 1)[1]
    assert (await api.get(link)).status_code == 200
    assert (await api.post(f"{link}/accept")).status_code == 200
    assert (await wait_status(api, onboarding_id, "COMPLETED", "FAILED"))["status"] == "COMPLETED"
    listed = await api.get("/v1/onboardings", params={"case_manager": CASE_MANAGER, "q": LAST})
    assert listed.status_code == 200, listed.text
    assert (await api.get("/healthz")).status_code in (200, 503)

    spans = traced.spans()
    post = only(spans, "POST /v1/onboardings")
    assert post.kind == SpanKind.SERVER and service(post) == tracing.API_SERVICE
    assert post.context is not None
    trace_id = post.context.trace_id
    assert trace_id == CALLER_TRACE and post.parent is not None
    assert post.parent.span_id == CALLER_SPAN, "the caller's trace continues"

    # The workflow's spans, made by the worker, all in the POST's trace (queries excepted: each
    # joins the trace of the status request that asked it).
    workflow_spans = [
        s for s in spans if service(s) == tracing.WORKER_SERVICE and "HandleQuery" not in s.name
    ]
    assert workflow_spans
    assert {s.context.trace_id for s in workflow_spans if s.context} == {trace_id}
    activities = [s for s in workflow_spans if s.name.startswith("RunActivity:")]
    names = {s.name.removeprefix("RunActivity:") for s in activities}
    # The registry lookup runs on the registry queue's worker: it inherited the tracing too.
    assert {"resolve_setup", "lookup_company", "create_client", "send_invitation"} <= names
    for span in activities:
        assert ancestors(span, spans)[-1] == "POST /v1/onboardings", span.name
    only(workflow_spans, "CompleteWorkflow:OnboardingWorkflow")

    # The acceptance is a request of its own, whose signal the workflow's span links to; the
    # activities after it stay in the POST's trace, up to the last one.
    accepted = only(spans, "POST /v1/invitations/{token}/accept")
    signal = only(spans, "SignalWorkflow:accept_invitation")
    assert ancestors(signal, spans) == [accepted.name]
    handled = only(workflow_spans, "HandleSignal:accept_invitation")
    assert signal.context is not None
    assert [(link.context.trace_id, link.context.span_id) for link in handled.links] == [
        (signal.context.trace_id, signal.context.span_id)
    ]
    last = max(activities, key=lambda s: s.start_time or 0)
    assert (last.start_time or 0) > (accepted.start_time or 0), "an activity ran after it"
    assert ancestors(last, spans)[-1] == "POST /v1/onboardings"

    # Temporal keeps the workflow's headers in history, unencrypted: the trace context only.
    start = only(spans, "StartWorkflow:OnboardingWorkflow")
    assert start.attributes is not None
    history = await client.get_workflow_handle(
        str(start.attributes["temporalWorkflowID"])
    ).fetch_history()
    header = history.events[0].workflow_execution_started_event_attributes.header
    carrier = json.loads(header.fields["_tracer-data"].data)
    assert set(carrier) == {"traceparent"} and f"{trace_id:032x}" in carrier["traceparent"]

    # Paths and queries: the token masked, free-text filters dropped, probes not traced.
    page = only(spans, "GET /v1/invitations/{token}")
    assert page.attributes is not None
    assert page.attributes["http.target"] == "/v1/invitations/***"
    assert str(page.attributes["http.url"]).endswith("/v1/invitations/***")
    listing = only(spans, "GET /v1/onboardings")
    assert listing.attributes is not None and "?" not in str(listing.attributes["http.url"])
    assert not [s for s in spans if "healthz" in span_text(s)]
    leaked = {
        needle for s in spans for needle in [*PERSONAL, token] if needle.lower() in span_text(s)
    }
    assert leaked == set()
    assert not [s for s in spans if s.attributes and "net.peer.ip" in s.attributes]


def test_exception_text_and_urls_never_leave_the_process(settings: Settings) -> None:
    """A failure is exported by type and frames: the message (a driver quoting a row, a mail
    server quoting an address) is not, nor a URL's token, query or credentials."""
    exported = InMemorySpanExporter()
    provider = tracing.tracer_provider(settings, service="test", exporter=exported)
    assert provider is not None
    tracer = provider.get_tracer(__name__)
    with tracer.start_as_current_span(
        "GET /v1/invitations/abcdefghijklmnopqrstu.vwxyzabcdefghijklmnop",
        attributes={
            "http.url": f"https://ops:pw@api.example/v1/invitations/tok.sig?email={EMAIL}",
            "url.query": f"email={EMAIL}",
            "client.address": "203.0.113.7",
            "temporalWorkflowID": "onboarding-1",
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            raise ValueError(f"duplicate key value (email)=({EMAIL})")
        except ValueError as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"ValueError: {exc}"))
    provider.force_flush()
    [sent] = exported.get_finished_spans()
    provider.shutdown()

    assert sent.name == "GET /v1/invitations/***"
    assert dict(sent.attributes or {}) == {
        "http.url": "https://api.example/v1/invitations/***",
        "temporalWorkflowID": "onboarding-1",
    }
    assert (sent.status.status_code, sent.status.description) == (StatusCode.ERROR, "ValueError")
    [event] = sent.events
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"
    assert "exception.message" not in event.attributes
    frames = str(event.attributes["exception.stacktrace"])
    assert "test_tracing.py" in frames and EMAIL not in span_text(sent)


Received = list[tuple[str, ExportTraceServiceRequest]]


def collector_handler(received: Received) -> type[BaseHTTPRequestHandler]:
    """An OpenTelemetry collector's OTLP/HTTP receiver: protobuf requests, kept in `received`."""

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            received.append((self.path, request))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # the test reads what arrived; no access log on stderr

    return Collector


@pytest.fixture
def collector() -> Iterator[tuple[str, Received]]:
    """The collector stand-in on a free 127.0.0.1 port: (base URL, requests received)."""
    received: Received = []
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), collector_handler(received))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_api_exports_over_otlp_when_the_standard_endpoint_is_set(
    settings: Settings,
    collector: tuple[str, Received],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT alone turns tracing on: the API made by `onboarding api`
    sends its spans, named `onboarding-api`, to the collector's /v1/traces, flushed when it
    stops. Unset, there is no provider at all."""
    url, received = collector
    assert tracing.tracer_provider(settings, service=tracing.API_SERVICE) is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    configured = Settings(**settings.model_dump(exclude={"otlp_endpoint"}))
    assert configured.otlp_endpoint == url

    async with serve_app(create_app(configured)) as http:
        assert (await http.get("/v1/onboardings")).status_code == 401
        assert (await http.get("/healthz")).status_code in (200, 503)

    assert {path for path, _ in received} == {"/v1/traces"}
    [(_, request)] = received
    [resource_spans] = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == tracing.API_SERVICE
    names = [span.name for scope in resource_spans.scope_spans for span in scope.spans]
    assert names == ["GET /v1/onboardings"]
