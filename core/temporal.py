"""The one place a Temporal client is built: worker, API, command line, tests and replayer.

Keeping it single means the data converter (pydantic), the payload encryption (core/codec.py)
and the connection settings cannot drift between the process that starts a workflow and the one
that runs it, or the replayer and the codec server that read its history.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from datetime import timedelta

from opentelemetry.trace import TracerProvider
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from core import tracing
from core.codec import EncryptionCodec
from core.settings import Settings
from domain.search_attributes import REGISTRY


def payload_codec(settings: Settings) -> EncryptionCodec:
    """The AES-GCM codec over the configured keys (the development key when none are)."""
    keys, current = settings.payload_keyring()
    return EncryptionCodec(keys, current=current)


def data_converter(settings: Settings) -> DataConverter:
    """pydantic values, encrypted payloads, and failures whose message and stack trace travel
    as an encrypted payload too: an exception text naming a client cannot leak through history.

    Everything the SDK encodes with this converter goes through the codec: inputs, results,
    signal/update/query arguments, heartbeat details, memos and user metadata (static and
    activity summaries). Search attributes do not (the server must index them), nor do
    workflow ids: both must hold no personal data.
    """
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=payload_codec(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


# One runtime per bind address and process: a Runtime owns the SDK's thread pool and its
# Prometheus listener, so a second one on the same address would fail to bind.
_metrics_runtimes: dict[str, Runtime] = {}


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The SDK runtime that serves Temporal's worker and client metrics for Prometheus at
    `temporal_metrics_bind_address` (None: the SDK's default runtime, no metrics endpoint).

    Metric names are the SDK's defaults (`temporal_activity_execution_failed`, latencies in
    milliseconds), the ones Temporal's published SDK dashboards query.
    """
    address = settings.temporal_metrics_bind_address
    if address is None:
        return None
    if address not in _metrics_runtimes:
        _metrics_runtimes[address] = Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address))
        )
    return _metrics_runtimes[address]


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS for the Temporal connection from the settings (validated at start-up: a client
    certificate comes with its key, files parse as PEM), or False for plaintext.

    Always explicit: left to the SDK, `tls=None` would switch TLS on by itself whenever an API
    key is set, a second rule beside `Settings.temporal_tls_enabled`.
    """
    if not settings.temporal_tls_enabled():
        return False
    ca = settings.temporal_tls_server_ca_file
    cert = settings.temporal_tls_client_cert_file
    key = settings.temporal_tls_client_key_file
    return TLSConfig(
        server_root_ca_cert=ca.read_bytes() if ca else None,
        domain=settings.temporal_tls_server_name,
        client_cert=cert.read_bytes() if cert else None,
        client_private_key=key.read_bytes() if key else None,
    )


def client_interceptors(tracer_provider: TracerProvider | None) -> list[Interceptor]:
    """The client's interceptors: Temporal's OpenTelemetry tracing when the process traces.

    A Worker built from the client inherits the client interceptors that are also worker
    interceptors, as this one is: set on the client only, or every span would be made twice.
    """
    if tracer_provider is None:
        return []
    return [tracing.temporal_interceptor(tracer_provider)]


# Whether this process made a Temporal client: its Rust core's threads may then outlive the
# event loop (see cli/main.py's `main`).
_connected = False


def connected_in_process() -> bool:
    """Whether `connect` ran in this process."""
    return _connected


async def connect(
    settings: Settings,
    *,
    address: str | None = None,
    lazy: bool = False,
    serve_metrics: bool = False,
    tracer_provider: TracerProvider | None = None,
) -> Client:
    """Connect to Temporal with the project's data converter.

    `lazy` defers the connection to the first call, so a process can start while Temporal is
    still coming up (the API does, and its /healthz reports Temporal down meanwhile).

    TLS, mTLS and a Temporal Cloud API key come from the settings (`tls_config`), so every
    process reaches a production Temporal the same way.

    `serve_metrics`: the worker process asks for the SDK's Prometheus endpoint (see
    `metrics_runtime`). Only it does: a command run beside it with the same environment
    (`docker compose exec worker onboarding status ...`) must not try to bind the same port.

    `tracer_provider`: the process's spans (core/tracing.py); workflows started through this
    client, and activities run by workers built from it, join the caller's trace.
    """
    global _connected
    _connected = True
    return await Client.connect(
        address or settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        lazy=lazy,
        runtime=metrics_runtime(settings) if serve_metrics else None,
        interceptors=client_interceptors(tracer_provider),
        tls=tls_config(settings),
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
    )


# What Temporal's frontend says when a start's payloads (input, memo, search attributes) pass
# its size limits: "Blob data size exceeds limit.", "Memo size exceeds limit.", "... exceeds
# size limit ...". gRPC's own message limit answers RESOURCE_EXHAUSTED "... larger than max".
_SIZE_WORDS = ("size exceeds limit", "exceeds size limit")
_SEARCH_ATTRIBUTE_MISSING = re.compile(r"no mapping defined for search attribute (\w+)")


class StartRefusal(enum.StrEnum):
    """Why Temporal would not start a workflow, in the few kinds callers answer differently."""

    too_large = "too_large"  # the input is over a size limit: the same input never starts
    namespace_incomplete = "namespace_incomplete"  # a search attribute is not registered
    invalid = "invalid"  # any other refusal of the request as Temporal saw it
    unavailable = "unavailable"  # could not ask (down, timeout...): worth a retry as is


@dataclasses.dataclass(frozen=True)
class StartRefused:
    kind: StartRefusal
    # Our words, fit for a problem detail or a log line: never the server's message, which may
    # quote the input.
    reason: str


def start_refusal(exc: BaseException) -> StartRefused | None:
    """What a failed start means, or None when `exc` is no answer from Temporal at all.

    Only a size limit is "too large": a namespace missing a search attribute this release sets
    also answers INVALID_ARGUMENT, and reading that as "too large" told callers to shorten
    five-field requests while every start failed (issue 21).

    A Temporal never reached is `unavailable` whatever the exception says it with (`unreachable`):
    the API's lazy client raises RuntimeError until it first connects.
    """
    if not isinstance(exc, RPCError):
        if unreachable(exc):
            return StartRefused(StartRefusal.unavailable, "Temporal did not answer the start")
        return None
    message = exc.message or ""
    if exc.status == RPCStatusCode.RESOURCE_EXHAUSTED and "larger than" in message:
        return StartRefused(StartRefusal.too_large, "the request is over Temporal's size limit")
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        missing = _SEARCH_ATTRIBUTE_MISSING.search(message)
        if missing is not None:
            # The attribute's name is ours (domain/search_attributes.py), never personal data.
            name = missing.group(1) if missing.group(1) in REGISTRY else "one of ours"
            return StartRefused(
                StartRefusal.namespace_incomplete,
                f"the Temporal namespace lacks the search attribute {name} this release needs "
                "(GET /healthz names the command that adds it)",
            )
        if any(words in message.lower() for words in _SIZE_WORDS):
            return StartRefused(StartRefusal.too_large, "the request is over Temporal's size limit")
        return StartRefused(StartRefusal.invalid, "Temporal refused the start as invalid")
    return StartRefused(StartRefusal.unavailable, "Temporal did not answer the start")


# How long a read waits for a workflow's query. A query is answered by a worker replaying the
# workflow; with none polling its task queue (every worker down, or its task failing) Temporal
# holds the query for 30 seconds, and a status page or route would hold its caller as long. A
# worker answers in milliseconds; past this, the reads answer from the database instead.
QUERY_WAIT = timedelta(seconds=5)


def query_not_answered(exc: BaseException) -> bool:
    """Whether a query failed because no worker answered it in time (QUERY_WAIT), as opposed to
    Temporal itself being unreachable or the workflow being unknown."""
    return isinstance(exc, RPCError) and exc.status in (
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.CANCELLED,
    )


# What an RPC answers when Temporal was not reached, or did not answer in time: worth a retry.
_NO_ANSWER = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}
)


def unreachable(exc: BaseException) -> bool:
    """Whether `exc` says Temporal could not be reached (down, restarting, too slow), not that it
    refused something: the caller may send the same request again shortly.

    A lazy client (the API's, which starts while Temporal is down) raises RuntimeError("Failed
    client connect: ...") on every call until its first connection succeeds, not an RPCError:
    answering that as an internal error told callers a bug where there was an outage.
    """
    if isinstance(exc, RPCError):
        return exc.status in _NO_ANSWER
    return isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect")


async def ping(client: Client) -> None:
    """Raise if the Temporal frontend does not answer a health check."""
    ok = await client.service_client.check_health()
    if not ok:
        raise RuntimeError("Temporal frontend reports not serving")


async def history_lengths(client: Client, workflow_id: str, first_run: str) -> list[int]:
    """Events in each run of a workflow, from `first_run`, following continue-as-new: what a
    long-lived workflow keeps under Temporal's per-run history limits."""
    lengths: list[int] = []
    run_id: str | None = first_run
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        attributes = history.events[-1].workflow_execution_continued_as_new_event_attributes
        run_id = attributes.new_execution_run_id or None
    return lengths
