"""GET /metrics for Prometheus, and the middleware that counts every request.

The route exists only when ONBOARDING_METRICS_ENABLED is set, and is then unauthenticated:
Prometheus scrapes it over the internal network (docker-compose.yml), and it tells only aggregate
counts by route template, status and outcome, never an id or a token. A deployment that
publishes the API keeps /metrics off the public path at its proxy (docs/reference/metrics.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from datetime import timedelta

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from api.deps import ServicesDep
from core import metrics, task_failures
from store import ops_stats
from store.pool import Pool

log = logging.getLogger(__name__)

# Requests no route matched (probes for random paths): one label value, never the raw path,
# which may hold anything a caller typed.
UNMATCHED = "<unmatched>"


class RequestMetrics:
    """Counts each HTTP request and its latency by method, route template and status.

    Every label comes from a bounded set, so that no caller can grow the exposition: made-up
    methods count as OTHER, unmatched paths as one route, unknown status codes by class.

    Outermost of our middlewares, so the 413s of BodyLimit are counted too. The route template
    (`/v1/onboardings/{onboarding_id}`) is read after the app has routed the request: Starlette
    leaves the matched route in the scope.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            labels = {
                "method": metrics.method_label(scope["method"]),
                "route": route,
                "status": metrics.status_label(status),
            }
            metrics.HTTP_REQUESTS.labels(**labels).inc()
            metrics.HTTP_LATENCY.labels(**labels).observe(time.perf_counter() - started)


class ProjectionMetrics(Collector):
    """Gauges read from the onboardings projection in PostgreSQL, reused for `max_age` seconds
    (each scrape of each replica would otherwise scan the table).

    Read from the database rather than counted in a process, so every API replica tells the same
    fleet-wide figures and a restart loses nothing (alert rules take `max` over replicas).

    Past `max_age` a scrape answers with the last reading and reads again in the background:
    over millions of onboardings a reading takes longer than a scrape may wait (issue 25).
    How old the reading is, and how long it took, are gauges of their own. With `max_age` 0
    every scrape reads afresh and waits for it.
    """

    def __init__(self) -> None:
        self._stats: ops_stats.OpsStats | None = None
        self._read_at = 0.0
        self._read_seconds = 0.0
        self._reading: asyncio.Task[None] | None = None
        self._stuck_after_hours = 0.0
        self._task_failing: int | None = None
        self._task_failing_read_at = 0.0

    async def refresh_task_failures(self, client: Client, *, max_age: float) -> None:
        """Count the onboardings whose workflow task keeps failing, unless the last count is
        younger than `max_age` seconds.

        One visibility query (Temporal's `TemporalReportedProblems`), whatever the fleet's size:
        a describe() per unfinished onboarding would cost one call each per scrape. Not
        answered (Temporal down): the family is left out, as for the projection.
        """
        if (
            time.monotonic() - self._task_failing_read_at < max_age
            and self._task_failing is not None
        ):
            return
        try:
            async with asyncio.timeout(3):
                self._task_failing = await task_failures.count_failing(client)
        except Exception:  # the scrape must still answer with the other metrics
            log.warning("metrics: Temporal did not count the failing workflow tasks")
            self._task_failing = None
            return
        self._task_failing_read_at = time.monotonic()

    async def refresh(self, pool: Pool, *, stuck_after_hours: float, max_age: float) -> None:
        """Read the projection again unless the last read is younger than `max_age` seconds:
        in the background when there is a reading to answer with meanwhile, else now.

        A failed read leaves the families out of the next scrapes rather than serve old figures
        an alert could fire on; /healthz says the database is down.
        """
        young = time.monotonic() - self._read_at < max_age
        same = stuck_after_hours == self._stuck_after_hours
        if young and self._stats is not None and same:
            return
        if max_age <= 0 or self._stats is None or not same:
            await self._read(pool, stuck_after_hours)
            return
        # One reading at a time, in this event loop (tests run several, one after another).
        reading = self._reading
        if (
            reading is None
            or reading.done()
            or reading.get_loop() is not asyncio.get_running_loop()
        ):
            self._reading = asyncio.create_task(self._read(pool, stuck_after_hours))

    async def _read(self, pool: Pool, stuck_after_hours: float) -> None:
        started = time.monotonic()
        try:
            self._stats = await ops_stats.read(pool, stuck_after=timedelta(hours=stuck_after_hours))
        except Exception:  # the scrape must still answer with the other metrics
            log.warning("metrics: the onboarding projection could not be read")
            self._stats = None
            return
        self._read_at = time.monotonic()
        self._read_seconds = self._read_at - started
        self._stuck_after_hours = stuck_after_hours

    def collect(self) -> Iterator[Metric]:
        if self._task_failing is not None:
            failing = GaugeMetricFamily(
                "onboarding_workflow_task_failing",
                "Running onboardings whose workflow task has failed several times in a row (as "
                "Temporal reports it): they cannot move until the cause is fixed",
            )
            failing.add_metric([], self._task_failing)
            yield failing
        stats = self._stats
        if stats is None:
            return
        age = GaugeMetricFamily(
            "onboarding_projection_age_seconds",
            "Seconds since the business gauges below were read from PostgreSQL (read again in "
            "the background once older than ONBOARDING_METRICS_REFRESH_SECONDS)",
        )
        age.add_metric([], time.monotonic() - self._read_at)
        took = GaugeMetricFamily(
            "onboarding_projection_read_seconds",
            "How long the last reading of the business gauges took in PostgreSQL",
        )
        took.add_metric([], self._read_seconds)
        yield from (age, took)
        total = GaugeMetricFamily(
            "onboarding_by_status", "Onboardings by status (database projection)", labels=["status"]
        )
        stuck = GaugeMetricFamily(
            "onboarding_stuck",
            f"Unfinished onboardings whose status has not changed for "
            f"{self._stuck_after_hours:g} hours or more, by status",
            labels=["status"],
        )
        oldest = GaugeMetricFamily(
            "onboarding_status_age_max_seconds",
            "Seconds since the longest-unchanged onboarding of each status got it",
            labels=["status"],
        )
        for row in stats.by_status:
            total.add_metric([row.status], row.total)
            stuck.add_metric([row.status], row.stuck)
            oldest.add_metric([row.status], row.oldest_seconds)
        settled = CounterMetricFamily(
            "onboarding_import_rows_settled",
            "Rows of bulk imports whose onboarding settled: ready, waiting for a person or "
            "failed (its rate: import rows/s)",
        )
        settled.add_metric([], stats.import_rows_settled)
        endpoints = GaugeMetricFamily(
            "onboarding_webhook_endpoints_in_trouble",
            "Webhook endpoints whose deliveries fail with no success since (failing), or that "
            "were disabled for it (disabled)",
            labels=["state"],
        )
        endpoints.add_metric(["failing"], stats.webhook_endpoints_failing)
        endpoints.add_metric(["disabled"], stats.webhook_endpoints_disabled)
        retrying = GaugeMetricFamily(
            "onboarding_webhook_deliveries_retrying",
            "Webhook deliveries waiting for another attempt after a failed one",
        )
        retrying.add_metric([], stats.webhook_deliveries_retrying)
        yield from (total, stuck, oldest, settled, endpoints, retrying)
        if stats.kbo_extract_age_days is not None:
            kbo_age = GaugeMetricFamily(
                "onboarding_kbo_extract_age_days",
                "Days since the snapshot of the KBO/BCE Open Data extract in service (Belgian "
                "lookups warn past 45: load a newer set)",
            )
            kbo_age.add_metric([], stats.kbo_extract_age_days)
            yield kbo_age


# One per process, in prometheus_client's default registry (next to the process's CPU and
# memory): apps built again in the same process (tests) share it.
PROJECTION = ProjectionMetrics()
REGISTRY.register(PROJECTION)

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def read_metrics(services: ServicesDep) -> Response:
    """Prometheus text exposition: HTTP, projection and process metrics."""
    settings = services.settings
    await PROJECTION.refresh(
        services.pool,
        stuck_after_hours=settings.metrics_stuck_after_hours,
        max_age=settings.metrics_refresh_seconds,
    )
    await PROJECTION.refresh_task_failures(
        services.temporal, max_age=settings.metrics_refresh_seconds
    )
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
