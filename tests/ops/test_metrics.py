"""Prometheus metrics: the Temporal SDK's from the worker's runtime, the API's HTTP figures and
the business ones (projection gauges, registry requests, e-mails), after real onboarding work."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.email import EmailActivities, SendOutcome, SmtpConfig
from activities.registry import RechercheEntreprisesClient, RegistryUnavailable
from api.deps import Services
from api.main import create_app
from core import metrics, temporal
from core.settings import Environment, Settings
from devstack import kbo_data
from devstack.ports import free_port
from devstack.registry_standin import RegistryStandin
from devstack.serving import serve_app
from devstack.smtp_sink import SmtpSink
from domain.email import Email
from email_templates import Renderer
from store import imports, kbo, onboardings, webhooks
from store.pool import Pool
from tests.e2e.helpers import ACCEPT, wait_status
from tests.eventually import eventually
from tests.factories import Tenant, make_client, make_tenant

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def sdk_metrics_address() -> str:
    """One SDK endpoint for the module: a Runtime (its threads and listener) lives as long as
    the process, so the tests here share one rather than leave one each behind."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def settings(settings: Settings, sdk_metrics_address: str) -> Settings:
    """The session's servers with every metrics endpoint on: the API's /metrics (read from the
    database at each scrape) and the SDK's."""
    return settings.model_copy(
        update={
            "metrics_enabled": True,
            "metrics_refresh_seconds": 0.0,
            "temporal_metrics_bind_address": sdk_metrics_address,
        }
    )


@pytest.fixture
async def client(settings: Settings) -> Client:
    """The worker's client as `onboarding worker` connects it: with the SDK's metrics endpoint."""
    return await temporal.connect(settings, serve_metrics=True)


@pytest.fixture
def worker_metrics_url() -> Iterator[str]:
    """The worker's own endpoint (what `onboarding worker` serves), in this process."""
    address = f"127.0.0.1:{free_port()}"
    server = metrics.serve(address)
    try:
        yield f"http://{address}/metrics"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when there are none)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


async def scrape(http: httpx.AsyncClient, url: str) -> tuple[str, Samples]:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text, parse(response.text)


async def test_metrics_after_an_onboarding_show_sdk_http_and_business_figures(
    api: httpx.AsyncClient,
    worker: Worker,
    settings: Settings,
    registry: RegistryStandin,
    smtp_sink: SmtpSink,
    worker_metrics_url: str,
    http: httpx.AsyncClient,
) -> None:
    """One onboarding whose first registry lookup meets a 503: the worker's SDK endpoint shows
    the failed and the completed activity and the completed workflow, the worker's counters the
    503, the 200 and the invitation sent, and /metrics the requests by route template (never an
    id) and the onboarding by status."""
    sdk_url = f"http://{settings.temporal_metrics_bind_address}/metrics"
    _, worker_before = await scrape(http, worker_metrics_url)
    _, api_before = await scrape(http, str(api.base_url.join("/metrics")))
    registry.fail_next(1, status=503)

    created = await api.post(
        "/v1/onboardings",
        json={
            "client": {
                "first_name": "Antoine",
                "last_name": "Martin",
                "email": f"direction-{uuid.uuid4().hex[:6]}@danone.example",
                "language": "fr",
                "siret": "55203253400646",
            }
        },
        headers={"Idempotency-Key": f"metrics-{uuid.uuid4()}"},
    )
    assert created.status_code == 202, created.text
    onboarding_id = created.json()["id"]
    await wait_status(api, onboarding_id, "READY")
    [invitation] = await smtp_sink.handler.arrived(1)
    text = invitation.message.get_body(preferencelist=("plain",))
    assert text is not None
    accept = ACCEPT.search(text.get_content())
    assert accept
    assert (await api.post(f"{accept.group(1)}/accept")).status_code == 200
    await wait_status(api, onboarding_id, "COMPLETED")

    _, worker_after = await scrape(http, worker_metrics_url)
    for code, expected in (("503", 1), ("200", 1), ("429", 0)):
        name = "onboarding_registry_requests_total"
        grown = value(worker_after, name, code=code) - value(worker_before, name, code=code)
        assert grown == expected, (code, grown)
    sent = "onboarding_emails_total"
    assert (
        value(worker_after, sent, outcome="sent") - value(worker_before, sent, outcome="sent") == 1
    )
    assert ("onboarding_emails_total", frozenset({("outcome", "bounced")})) in worker_after

    # The SDK's exporter (Temporal's Rust core) names counters without `_total` (the parser
    # adds it to sample names; the raw lines are what alert rules query). A completion may reach
    # it a moment after the workflow's result is visible.
    queue = {"task_queue": settings.registry_task_queue, "activity_type": "lookup_company"}
    completed = "temporal_workflow_completed_total"
    sdk_text, sdk = await eventually(
        lambda: scrape(http, sdk_url),
        until=lambda scraped: value(scraped[1], completed, workflow_type="OnboardingWorkflow") >= 1,
        what="the SDK's workflow completion counted",
        within=5,
        every=0.1,
    )
    assert value(sdk, completed, workflow_type="OnboardingWorkflow") == 1
    assert value(sdk, "temporal_activity_execution_failed_total", **queue) == 1
    assert value(sdk, "temporal_activity_execution_latency_count", **queue) == 2
    assert value(sdk, "temporal_activity_execution_latency_count", activity_type="send_invitation")
    for raw in ("temporal_workflow_completed{", "temporal_activity_execution_failed{"):
        assert raw in sdk_text

    exposition, api_metrics = await scrape(http, str(api.base_url.join("/metrics")))
    requests = "onboarding_http_requests_total"
    # The counters are the process's, which other tests' requests grow too: compare.
    posted = {"method": "POST", "route": "/v1/onboardings", "status": "202"}
    assert value(api_metrics, requests, **posted) - value(api_before, requests, **posted) == 1
    route = "/v1/onboardings/{onboarding_id}"
    read = {"method": "GET", "route": route, "status": "200"}
    assert value(api_metrics, requests, **read) - value(api_before, requests, **read) >= 2
    assert value(
        api_metrics, "onboarding_http_request_duration_seconds_count", method="GET", route=route
    ) == value(api_metrics, requests, method="GET", route=route)
    assert onboarding_id not in exposition
    assert accept.group(1).rsplit("/", 1)[-1] not in exposition  # the invitation token
    assert value(api_metrics, "onboarding_by_status", status="COMPLETED") >= 1


async def test_requests_no_route_matches_share_one_label(
    api: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    """A probe for a path of its own is counted under `<unmatched>`, its path never a label."""
    probe = uuid.uuid4().hex
    assert (await api.get(f"/wp-admin/{probe}")).status_code == 404
    exposition, samples = await scrape(http, str(api.base_url.join("/metrics")))
    assert probe not in exposition
    unmatched = value(
        samples, "onboarding_http_requests_total", route="<unmatched>", status="404", method="GET"
    )
    assert unmatched >= 1


async def _onboarding_with_status(pool: Pool, tenant: Tenant, status: str) -> uuid.UUID:
    onboarding_id, _ = await make_client(pool, tenant)
    await onboardings.set_status(pool, onboarding_id=onboarding_id, status=status)
    return onboarding_id


async def test_stuck_gauge_counts_an_old_status_and_not_a_new_one(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, http: httpx.AsyncClient
) -> None:
    """NEEDS_ATTENTION since three days counts as stuck (threshold 48 h), one since now does
    not, nor does an old one written again with the same status a moment ago (status_since
    stays); a COMPLETED one, however old, never does."""
    url = str(api.base_url.join("/metrics"))
    _, before = await scrape(http, url)
    old = await _onboarding_with_status(pool, tenant, "NEEDS_ATTENTION")
    await _onboarding_with_status(pool, tenant, "NEEDS_ATTENTION")
    finished = await _onboarding_with_status(pool, tenant, "COMPLETED")
    await pool.execute(
        "UPDATE onboardings SET status_since = now() - interval '3 days' WHERE id = ANY($1)",
        [old, finished],
    )
    # A retried projection write of the same status: still stuck since three days.
    await onboardings.set_status(pool, onboarding_id=old, status="NEEDS_ATTENTION")
    _, after = await scrape(http, url)

    def grown(name: str, status: str) -> float:
        return value(after, name, status=status) - value(before, name, status=status)

    assert grown("onboarding_by_status", "NEEDS_ATTENTION") == 2
    assert grown("onboarding_stuck", "NEEDS_ATTENTION") == 1
    assert grown("onboarding_by_status", "COMPLETED") == 1
    assert value(after, "onboarding_stuck", status="COMPLETED") == 0
    assert value(after, "onboarding_status_age_max_seconds", status="NEEDS_ATTENTION") >= 3 * 86400


async def test_projection_is_read_again_only_when_older_than_the_refresh(
    settings: Settings, pool: Pool, client: Client, tenant: Tenant, http: httpx.AsyncClient
) -> None:
    """With a 60 s refresh, a second scrape serves the figures of the first read."""
    cached = settings.model_copy(update={"metrics_refresh_seconds": 60.0})
    app = create_app(cached, services=Services(settings=cached, pool=pool, temporal=client))
    async with serve_app(app) as server:
        _, first = await scrape(http, str(server.base_url.join("/metrics")))
        await _onboarding_with_status(pool, tenant, "NEEDS_ATTENTION")
        _, second = await scrape(http, str(server.base_url.join("/metrics")))
    status = {"status": "NEEDS_ATTENTION"}
    assert value(second, "onboarding_by_status", **status) == value(
        first, "onboarding_by_status", **status
    )


async def test_stale_projection_is_served_while_it_is_read_again_in_the_background(
    settings: Settings, pool: Pool, client: Client, tenant: Tenant, http: httpx.AsyncClient
) -> None:
    """Past the refresh, a scrape answers at once with the last reading (its age a gauge) and
    a reading starts behind it; a later scrape has the new figures."""
    refresh = 0.5
    cached = settings.model_copy(update={"metrics_refresh_seconds": refresh})
    status = {"status": "NEEDS_ATTENTION"}
    app = create_app(cached, services=Services(settings=cached, pool=pool, temporal=client))
    async with serve_app(app) as server:
        url = str(server.base_url.join("/metrics"))
        counted = await pool.fetchval(
            "SELECT count(*) FROM onboardings WHERE status = 'NEEDS_ATTENTION'"
            " AND NOT start_pending"
        )

        async def reading() -> Any:
            _, families = await scrape(http, url)
            return families

        # An earlier test's reading may be the one served first; a fresh one (younger than the
        # refresh) was read by no background task still running, which could otherwise see the
        # row added below.
        first = await eventually(
            reading,
            what="a fresh reading with today's count",
            within=5,
            until=lambda f: (
                value(f, "onboarding_by_status", **status) == counted
                and value(f, "onboarding_projection_age_seconds") < refresh
            ),
        )
        await _onboarding_with_status(pool, tenant, "NEEDS_ATTENTION")
        await asyncio.sleep(refresh + 0.1)
        # The read again is held behind a lock until the scrape has answered: without it, a
        # quick read could finish before the answer is written, and the test would race.
        async with pool.acquire() as blocker, blocker.transaction():
            await blocker.execute("LOCK TABLE onboardings IN ACCESS EXCLUSIVE MODE")
            _, stale = await asyncio.wait_for(scrape(http, url), 10)
        stale_answered = time.monotonic()
        assert value(stale, "onboarding_by_status", **status) == value(
            first, "onboarding_by_status", **status
        )
        assert value(stale, "onboarding_projection_age_seconds") >= refresh
        before = value(first, "onboarding_by_status", **status)
        fresh = await eventually(
            reading,
            what="the reading read again in the background",
            within=5,
            until=lambda f: value(f, "onboarding_by_status", **status) > before,
        )
    assert value(fresh, "onboarding_by_status", **status) == (
        value(first, "onboarding_by_status", **status) + 1
    )
    # Read after the stale answer (its age no more than the time since then), not a set figure:
    # on a loaded machine the scrape that sees it may come a second later (seen: 1.18 s).
    assert value(fresh, "onboarding_projection_age_seconds") <= (time.monotonic() - stale_answered)
    assert value(fresh, "onboarding_projection_read_seconds") > 0


async def test_registry_429s_are_counted_as_the_registry_answers(
    registry: RegistryStandin, worker_metrics_url: str, http: httpx.AsyncClient
) -> None:
    """A burst over the registry's published limit: every 429 it answered is counted."""
    _, before = await scrape(http, worker_metrics_url)
    async with RechercheEntreprisesClient(registry.url, timeout=2) as unpaced:
        results = await asyncio.gather(
            *(unpaced.lookup_siret("55203253400646") for _ in range(12)), return_exceptions=True
        )
    _, after = await scrape(http, worker_metrics_url)
    limited = registry.stats.rate_limited
    assert limited >= 1
    assert sum(not isinstance(r, Exception) for r in results) == 12 - limited
    assert not any(isinstance(r, RegistryUnavailable) for r in results)
    name = "onboarding_registry_requests_total"
    assert value(after, name, code="429") - value(before, name, code="429") == limited
    assert value(after, name, code="200") - value(before, name, code="200") == 12 - limited


async def test_email_outcomes_are_counted_once_each(
    pool: Pool,
    settings: Settings,
    smtp_sink: SmtpSink,
    worker_metrics_url: str,
    http: httpx.AsyncClient,
) -> None:
    """Sent, suppressed (muted client) and bounced (550) each count once, and a retried send
    that finds its e-mail already sent or suppressed counts nothing more."""
    email_activities = EmailActivities(pool, SmtpConfig.from_settings(settings), Renderer())
    tenant = await make_tenant(pool)
    email = Email(subject="Bienvenue", text="Bonjour")
    env = ActivityEnvironment()

    async def send(muted: bool, recipient: str) -> list[SendOutcome]:
        onboarding_id, client_id = await make_client(pool, tenant, muted=muted)
        outcomes = []
        for _ in range(2):  # the second call is a retry of the same (onboarding, purpose, seq)
            result = await env.run(
                email_activities.deliver_once,
                onboarding_id=onboarding_id,
                purpose="metrics-test",
                sequence=1,
                recipient=recipient,
                email=email,
                client_id=client_id,
            )
            outcomes.append(result.outcome)
        return outcomes

    _, before = await scrape(http, worker_metrics_url)
    smtp_sink.handler.refused_recipients["nobody@example.com"] = "550 5.1.1 No such user"
    assert await send(False, "client@example.com") == [SendOutcome.sent, SendOutcome.already_sent]
    assert await send(True, "client@example.com") == [SendOutcome.suppressed] * 2
    assert await send(False, "nobody@example.com") == [SendOutcome.bounced] * 2
    _, after = await scrape(http, worker_metrics_url)
    for outcome in ("sent", "suppressed", "bounced"):
        name = "onboarding_emails_total"
        grown = value(after, name, outcome=outcome) - value(before, name, outcome=outcome)
        assert grown == 1, (outcome, grown)


async def test_metrics_route_is_absent_unless_enabled() -> None:
    """Without ONBOARDING_METRICS_ENABLED the API has no /metrics at all."""
    app = create_app(Settings(env=Environment.test))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/metrics")).status_code == 404


async def test_settled_import_rows_are_counted_once_each(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, http: httpx.AsyncClient
) -> None:
    """An imported row counts when its onboarding first settles (waiting for a person), and
    stays counted when the details come and it sets up again: the counter never goes down, and
    its rate() is import rows/s. A row still setting up does not count."""
    url = str(api.base_url.join("/metrics"))
    name = "onboarding_import_rows_settled_total"
    _, before = await scrape(http, url)
    import_id = uuid.uuid4()
    await imports.create(
        pool,
        import_id=import_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(import_id),
        request_hash="h",
        workflow_id=f"import-{import_id}",
        filename="clients.csv",
        created_by=tenant.admin.id,
        rows=[(n, None, {"row": n}, []) for n in (1, 2)],
    )
    rows = {}
    for n in (1, 2):
        rows[n] = uuid.uuid4()
        await onboardings.claim(
            pool,
            onboarding_id=rows[n],
            partner_id=tenant.partner.id,
            idempotency_key=f"import:{import_id}:{n}",
            request_hash="h",
            workflow_id=f"onboarding-{rows[n]}",
            status="SETTING_UP",
            import_id=import_id,
        )
        await imports.link_row(
            pool, import_id=import_id, row=n, onboarding_id=rows[n], skipped=None
        )
    for status in ("AWAITING_COMPANY_DETAILS", "SETTING_UP"):
        await onboardings.set_status(pool, onboarding_id=rows[1], status=status)
    await onboardings.set_status(pool, onboarding_id=rows[2], status="SETTING_UP")
    _, after = await scrape(http, url)
    assert value(after, name) - value(before, name) == 1


async def test_webhook_troubles_are_counted(
    api: httpx.AsyncClient,
    pool: Pool,
    tenant: Tenant,
    http: httpx.AsyncClient,
    endpoints_made: list[webhooks.EndpointRow],
) -> None:
    """An endpoint failing since its last success and a disabled one are counted by state, and
    a delivery waiting for its next attempt after a failure counts as retrying."""
    url = str(api.base_url.join("/metrics"))
    _, before = await scrape(http, url)
    failing, disabled = [
        await webhooks.create_endpoint(
            pool,
            partner_id=tenant.partner.id,
            url=f"https://hooks.example/{name}",
            event_types=["onboarding.ready"],
            secret="whsec_" + "A" * 32,
            created_by=tenant.admin.id,
        )
        for name in ("failing", "disabled")
    ]
    endpoints_made += [failing, disabled]
    onboarding_id, _ = await make_client(pool, tenant)
    # The status projection's trigger writes one delivery per subscribed endpoint.
    await onboardings.set_status(pool, onboarding_id=onboarding_id, status="READY")
    # What the delivery loop records after failed attempts (store/webhooks.record_failure).
    await pool.execute(
        "UPDATE webhook_endpoints SET failing_since = now() - interval '1 hour' WHERE id = $1",
        failing.id,
    )
    await pool.execute(
        "UPDATE webhook_deliveries SET attempts = 1 WHERE endpoint_id = $1", failing.id
    )
    await pool.execute(
        "UPDATE webhook_endpoints SET failing_since = now() - interval '3 days', "
        "disabled_at = now() WHERE id = $1",
        disabled.id,
    )
    _, after = await scrape(http, url)

    def grown(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grown("onboarding_webhook_endpoints_in_trouble", state="failing") == 1
    assert grown("onboarding_webhook_endpoints_in_trouble", state="disabled") == 1
    assert grown("onboarding_webhook_deliveries_retrying") == 1


async def test_a_command_beside_the_worker_leaves_its_metrics_port_alone(
    settings: Settings,
) -> None:
    """`onboarding status` run in the worker's container has the worker's environment: its
    client must not try to bind the SDK's port, which the worker holds (binding it would fail)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = settings.model_copy(
            update={"temporal_metrics_bind_address": f"127.0.0.1:{held.getsockname()[1]}"}
        )
        command_client = await temporal.connect(taken)
        await temporal.ping(command_client)
        with pytest.raises(ValueError, match="Address already in use"):
            await temporal.connect(taken, serve_metrics=True)


async def test_random_methods_and_paths_leave_the_http_series_bounded(
    api: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    """Requests with made-up methods (to a route and to no route), and made-up paths, add at
    most a few series: every label value comes from a bounded set, never from the request."""
    url = str(api.base_url.join("/metrics"))
    names = ("onboarding_http_requests_total", "onboarding_http_request_duration_seconds_count")

    def series(samples: Samples) -> set[frozenset[tuple[str, str]]]:
        return {labels for (name, labels) in samples if name in names}

    _, before = await scrape(http, url)
    made_up = [f"X{uuid.uuid4().hex[:10].upper()}" for _ in range(60)]
    for n, method in enumerate(made_up):
        path = "/healthz" if n % 2 else f"/{uuid.uuid4().hex}"
        await api.request(method, path)
        await api.request("GET", f"/v1/{uuid.uuid4().hex}/{n}")
    exposition, after = await scrape(http, url)
    assert not any(method in exposition for method in made_up)
    new = series(after) - series(before)
    assert len(new) <= 2 * len(names) * 4, sorted(map(sorted, new))
    methods = {dict(labels)["method"] for labels in series(after)}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}
    statuses = {dict(labels)["status"] for labels in series(after)}
    assert all((s.isdigit() and 100 <= int(s) <= 599) or s.endswith("xx") for s in statuses)


async def test_registry_answers_with_unregistered_codes_share_their_class(
    worker_metrics_url: str, http: httpx.AsyncClient
) -> None:
    """A registry answering made-up status codes adds one series per class, not one per code."""
    for code in (599, 598, 597, 299):
        metrics.registry_answered(code)
    exposition, samples = await scrape(http, worker_metrics_url)
    assert 'code="599"' not in exposition and 'code="299"' not in exposition
    assert value(samples, "onboarding_registry_requests_total", code="5xx") >= 3
    assert value(samples, "onboarding_registry_requests_total", code="2xx") >= 1


async def test_kbo_extract_age_is_read_at_scrape_time(
    api: httpx.AsyncClient, pool: Pool, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """onboarding_kbo_extract_age_days is the age of the extract in service, from PostgreSQL,
    whatever worker did or did not look a Belgian company up."""
    kbo_data.write_full_set(
        tmp_path / "kbo", synthetic=10, snapshot=date.today() - timedelta(days=50)
    )
    source = kbo.KboSource(tmp_path / "kbo")
    try:
        await kbo.load_full(pool, source=source)
    finally:
        source.close()
    _, scraped = await scrape(http, str(api.base_url.join("/metrics")))
    assert value(scraped, "onboarding_kbo_extract_age_days") == 50
