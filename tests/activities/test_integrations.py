"""IntegrationActivities (and ClientSetupActivities) against real PostgreSQL and the partner-app
stand-in over real HTTP.

The outbound policy is the tests' own, built from settings as the worker's is: http allowed
(env test), and the partner-app stand-in on 127.0.0.1 allowed by an exact host:port entry, as the
dev stack allows its own. Any other loopback port is as forbidden as in production.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.client_setup import AssignInput, ClientSetupActivities
from activities.integrations import (
    AutomationConnector,
    ConnectIntegrationInput,
    ConnectRequest,
    IntegrationActivities,
    RecordIntegrationFailureInput,
)
from core.outbound import OutboundPolicy
from core.settings import Environment, Settings
from devstack.partner_app import PartnerApp
from devstack.ports import free_port
from domain.onboarding import client_id_for
from domain.setup import (
    SECRET_MASK,
    BillingPeriod,
    EffectiveIntegration,
    Integration,
    IntegrationChoice,
    IntegrationKind,
    Payer,
    Role,
    SettingSpec,
    TemplateBody,
)
from store import applied_setup, catalogs, clients, onboardings, partners, templates
from store.pool import Pool
from tests.factories import make_tenant

TEMPLATE_TOKEN = "tmpl-token-7f3a9c"
REQUEST_TOKEN = "req-token-51d2e8"
WEBHOOK_SECRET = "whsec-0c4b6d"


def _assign(activities: IntegrationActivities) -> Any:
    """The collaborators-and-subscription activity, over the same database."""
    return ClientSetupActivities(activities.pool).assign_collaborators_and_subscription


@pytest.fixture
async def partner_app() -> AsyncIterator[PartnerApp]:
    async with PartnerApp() as app:
        yield app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def _policy(*private: str) -> OutboundPolicy:
    """The policy the worker would build from test settings listing `private` host:port."""
    settings = Settings(env=Environment.test, outbound_allow_private_hosts=list(private))
    return OutboundPolicy.from_settings(settings)


@pytest.fixture
def activities(
    pool: Pool, http: httpx.AsyncClient, partner_app: PartnerApp
) -> IntegrationActivities:
    policy = _policy(f"127.0.0.1:{partner_app.port}")
    return IntegrationActivities(pool, http, timeout=5, outbound_policy=policy)


@dataclass
class Remote:
    """Whatever answers at a connect_url: a bare HTTP/1.1 server on 127.0.0.1 (and ::1 when the
    machine has it) that records each request and answers `status`, `body` and `headers`.
    Standing for an internal service an attacker would like to reach, and for a broken app."""

    status: int = 500
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    received: list[bytes] = field(default_factory=list)
    port: int = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        self.received.append(head + await reader.readexactly(length))
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        writer.write(
            f"HTTP/1.1 {self.status} Whatever\r\nContent-Length: {len(self.body)}\r\n"
            f"Content-Type: application/json\r\n{extra}Connection: close\r\n\r\n".encode()
            + self.body
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def remote() -> AsyncIterator[Remote]:
    remote = Remote()
    server = await asyncio.start_server(remote._handle, host="127.0.0.1", port=0)
    remote.port = server.sockets[0].getsockname()[1]
    try:
        # Same port on ::1, so "[::1]" would reach it if nothing stopped the call.
        v6 = await asyncio.start_server(remote._handle, host="::1", port=remote.port)
    except OSError:
        v6 = None
    async with server:
        yield remote
    if v6 is not None:
        v6.close()
        await v6.wait_closed()


@dataclass(frozen=True)
class World:
    partner_id: uuid.UUID
    onboarding_id: uuid.UUID
    client_id: uuid.UUID
    template_id: uuid.UUID
    template_version: int
    integration: EffectiveIntegration

    def input(self) -> ConnectIntegrationInput:
        return ConnectIntegrationInput(
            client_id=self.client_id,
            partner_id=self.partner_id,
            onboarding_id=self.onboarding_id,
            template_id=self.template_id,
            integration=self.integration,
        )


def _bankfeed(connect_url: str) -> Integration:
    return Integration(
        code="bankfeed",
        name="Bank feed",
        kind=IntegrationKind.automation,
        connect_url=connect_url,
        settings=[
            SettingSpec(name="account_id"),
            SettingSpec(name="api_token", secret=True),
            SettingSpec(name="webhook_secret", secret=True, required=False),
        ],
    )


async def _world(
    pool: Pool,
    app: Integration,
    *,
    template_settings: dict[str, Any],
    request_secrets: dict[str, Any] | None = None,
    effective_settings: dict[str, Any] | None = None,
) -> World:
    """A partner with `app` in its catalog, a template holding `template_settings` for it, and an
    onboarding (with `request_secrets`) whose client was made with that template."""
    tenant = await make_tenant(pool)
    partner_id = tenant.partner.id
    assert await catalogs.create(
        pool, "integrations", partner_id=partner_id, code=app.code, body=app.model_dump(mode="json")
    )
    body = TemplateBody(integrations=[IntegrationChoice(code=app.code, settings=template_settings)])
    template = await templates.create(
        pool,
        partner_id=partner_id,
        name=f"Template {uuid.uuid4().hex[:6]}",
        description="",
        body=body.model_dump(mode="json"),
        make_default=False,
    )
    onboarding_id = uuid.uuid4()
    await onboardings.claim(
        pool,
        onboarding_id=onboarding_id,
        partner_id=partner_id,
        idempotency_key=str(onboarding_id),
        request_hash="h",
        workflow_id=f"onboarding-{onboarding_id}",
        status="SETTING_UP",
        secrets={app.code: request_secrets} if request_secrets else None,
    )
    row, _ = await clients.create(
        pool,
        client_id=client_id_for(onboarding_id),
        partner_id=partner_id,
        onboarding_id=onboarding_id,
        name="Client",
        email="client@example.com",
        language="en",
        template_id=template.id,
        template_version=template.version,
    )
    secrets = app.secret_names()
    masked = {k: SECRET_MASK if k in secrets else v for k, v in template_settings.items()}
    return World(
        partner_id=partner_id,
        onboarding_id=onboarding_id,
        client_id=row.id,
        template_id=template.id,
        template_version=template.version,
        integration=EffectiveIntegration(
            code=app.code,
            kind=app.kind,
            settings=effective_settings if effective_settings is not None else masked,
        ),
    )


async def _automation_world(
    pool: Pool, partner_app: PartnerApp, *, request_secrets: dict[str, Any] | None = None
) -> World:
    return await _world(
        pool,
        _bankfeed(partner_app.connect_url),
        template_settings={
            "account_id": "FR76-1",
            "api_token": TEMPLATE_TOKEN,
            "webhook_secret": WEBHOOK_SECRET,
        },
        request_secrets=request_secrets,
    )


# ---- connect_integration ------------------------------------------------------------------------


async def test_connect_redirection_connects_without_http(
    activities: IntegrationActivities, pool: Pool, partner_app: PartnerApp
) -> None:
    """A redirection app only grants access: connected at once, no request to any app."""
    app = Integration(code="portal", name="Portal", kind=IntegrationKind.redirection)
    world = await _world(pool, app, template_settings={})
    result = await ActivityEnvironment().run(activities.connect_integration, world.input())
    assert (result.code, result.state, result.external_ref) == ("portal", "connected", None)
    assert partner_app.requests == []
    row = await applied_setup.get_integration(pool, client_id=world.client_id, code="portal")
    assert row is not None
    assert (row.kind, row.state, row.attempts) == ("redirection", "connected", 1)
    assert row.connected_at is not None


async def test_connect_automation_sends_real_secrets_and_idempotency_key(
    activities: IntegrationActivities, pool: Pool, partner_app: PartnerApp
) -> None:
    """The app gets the secrets from the database (the request's winning over the template's),
    never the mask, and an Idempotency-Key naming the client and the app."""
    world = await _automation_world(pool, partner_app, request_secrets={"api_token": REQUEST_TOKEN})
    assert world.integration.settings["api_token"] == SECRET_MASK
    result = await ActivityEnvironment().run(activities.connect_integration, world.input())
    [request] = partner_app.requests
    assert request.body == {
        "client_id": str(world.client_id),
        "partner_id": str(world.partner_id),
        "integration": "bankfeed",
        "settings": {
            "account_id": "FR76-1",
            "api_token": REQUEST_TOKEN,
            "webhook_secret": WEBHOOK_SECRET,
        },
    }
    assert request.headers["idempotency-key"] == f"{world.client_id}:bankfeed"
    assert result.external_ref is not None and result.external_ref.startswith("conn_")
    row = await applied_setup.get_integration(pool, client_id=world.client_id, code="bankfeed")
    assert row is not None
    assert (row.state, row.external_ref, row.attempts) == ("connected", result.external_ref, 1)


async def test_connect_sends_a_stored_secret_whose_setting_was_declared_plain_since(
    activities: IntegrationActivities, pool: Pool, partner_app: PartnerApp
) -> None:
    """The setup masks a setting that was ever secret (issue 20): when the app is redefined
    with it plain, the connect still gets the real value from the database, not the mask."""
    world = await _automation_world(pool, partner_app)
    plain = _bankfeed(partner_app.connect_url).model_copy(
        update={"settings": [SettingSpec(name="account_id"), SettingSpec(name="api_token")]}
    )
    assert await catalogs.replace(
        pool,
        "integrations",
        partner_id=world.partner_id,
        code="bankfeed",
        body=plain.model_dump(mode="json"),
    )
    await ActivityEnvironment().run(activities.connect_integration, world.input())
    [request] = partner_app.requests
    assert request.body["settings"] == {"account_id": "FR76-1", "api_token": TEMPLATE_TOKEN}


async def test_connect_automation_uses_the_template_version_of_the_client(
    activities: IntegrationActivities, pool: Pool, partner_app: PartnerApp
) -> None:
    """A template edited after the client was made does not change the secret sent for it."""
    world = await _automation_world(pool, partner_app)
    edited = TemplateBody(
        integrations=[
            IntegrationChoice(
                code="bankfeed", settings={"account_id": "FR76-1", "api_token": "rotated-later"}
            )
        ]
    )
    updated = await templates.update(
        pool,
        partner_id=world.partner_id,
        template_id=world.template_id,
        name=f"Edited {uuid.uuid4().hex[:6]}",
        description="",
        body=edited.model_dump(mode="json"),
    )
    assert updated is not None and updated.version == world.template_version + 1
    await ActivityEnvironment().run(activities.connect_integration, world.input())
    [request] = partner_app.requests
    assert request.body["settings"]["api_token"] == TEMPLATE_TOKEN


async def test_connect_twice_keeps_one_connected_row(
    activities: IntegrationActivities, pool: Pool, partner_app: PartnerApp
) -> None:
    """A replay finds the app connected: one row, the same reference, no second call."""
    world = await _automation_world(pool, partner_app)
    env = ActivityEnvironment()
    first = await env.run(activities.connect_integration, world.input())
    second = await env.run(activities.connect_integration, world.input())
    assert first.external_ref is not None
    assert second.external_ref == first.external_ref
    [row] = await applied_setup.list_integrations(pool, client_id=world.client_id)
    assert (row.code, row.state, row.external_ref, row.attempts) == (
        "bankfeed",
        "connected",
        first.external_ref,
        1,
    )
    assert len(partner_app.requests) == 1


async def test_automation_connector_retry_sends_the_same_idempotency_key(
    http: httpx.AsyncClient, partner_app: PartnerApp
) -> None:
    """Two calls for one (client, app) carry one key, so the app hands back one connection."""
    request = ConnectRequest(
        client_id=uuid.uuid4(),
        partner_id=uuid.uuid4(),
        app=_bankfeed(partner_app.connect_url),
        settings={"account_id": "FR76-1", "api_token": REQUEST_TOKEN},
    )
    connector = AutomationConnector(http, 5, _policy(f"127.0.0.1:{partner_app.port}"))
    first = await connector.connect(request)
    second = await connector.connect(request)
    assert first.external_ref is not None and second.external_ref == first.external_ref
    keys = {r.headers["idempotency-key"] for r in partner_app.requests}
    assert keys == {f"{request.client_id}:bankfeed"}
    assert REQUEST_TOKEN not in repr(request)


async def test_connect_unavailable_then_success_counts_attempts(
    activities: IntegrationActivities, pool: Pool, partner_app: PartnerApp
) -> None:
    """A 503 is retryable and recorded as the row's last error; the next run connects."""
    world = await _automation_world(pool, partner_app)
    partner_app.fail_next(1, status=503)
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError) as caught:
        await env.run(activities.connect_integration, world.input())
    assert (caught.value.type, caught.value.non_retryable) == ("IntegrationUnavailable", False)
    failed = await applied_setup.get_integration(pool, client_id=world.client_id, code="bankfeed")
    assert failed is not None
    assert (failed.state, failed.attempts) == ("failed", 1)
    assert failed.last_error is not None and "503" in failed.last_error
    result = await env.run(activities.connect_integration, world.input())
    row = await applied_setup.get_integration(pool, client_id=world.client_id, code="bankfeed")
    assert row is not None
    assert (row.state, row.attempts, row.external_ref) == ("connected", 2, result.external_ref)
    assert [r.status for r in partner_app.requests] == [503, 201]


async def test_connect_rate_limited_retries_after_the_apps_delay(
    activities: IntegrationActivities, pool: Pool, partner_app: PartnerApp
) -> None:
    """A 429 is retryable, and the next retry waits the app's Retry-After."""
    world = await _automation_world(pool, partner_app)
    partner_app.fail_next(1, status=429)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.connect_integration, world.input())
    assert (caught.value.type, caught.value.non_retryable) == ("IntegrationUnavailable", False)
    assert caught.value.next_retry_delay == timedelta(seconds=1)


async def test_connect_unreachable_app_is_retryable(pool: Pool, http: httpx.AsyncClient) -> None:
    """Nothing listening at connect_url: a retryable IntegrationUnavailable, recorded as failed."""
    port = free_port()
    activities = IntegrationActivities(pool, http, outbound_policy=_policy(f"127.0.0.1:{port}"))
    app = _bankfeed(f"http://127.0.0.1:{port}/connect")
    world = await _world(
        pool, app, template_settings={"account_id": "FR76-1", "api_token": TEMPLATE_TOKEN}
    )
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.connect_integration, world.input())
    assert (caught.value.type, caught.value.non_retryable) == ("IntegrationUnavailable", False)
    assert (
        caught.value.message
        == "integration 'bankfeed' could not be reached (connection refused or failed)"
    )
    row = await applied_setup.get_integration(pool, client_id=world.client_id, code="bankfeed")
    assert row is not None and row.state == "failed"


async def test_connect_rejected_is_final_and_never_shows_the_secret(
    activities: IntegrationActivities,
    pool: Pool,
    partner_app: PartnerApp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 422 is non-retryable, recorded on the row in our words; an app echoing the secret back
    gets it into neither the error, the row nor any log line."""
    caplog.set_level(logging.DEBUG)
    world = await _automation_world(pool, partner_app, request_secrets={"api_token": REQUEST_TOKEN})
    partner_app.reject_next(1, status=422, message=f"token {REQUEST_TOKEN} is not valid")
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.connect_integration, world.input())
    error = caught.value
    assert (error.type, error.non_retryable) == ("IntegrationRejected", True)
    assert error.message == "integration 'bankfeed' refused the connection (answered 422)"
    assert error.__cause__ is None
    row = await applied_setup.get_integration(pool, client_id=world.client_id, code="bankfeed")
    assert row is not None
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, error.message)
    # The secret did travel (to the app), so its absence below is not for want of sending it.
    assert partner_app.requests[0].body["settings"]["api_token"] == REQUEST_TOKEN
    for secret in (REQUEST_TOKEN, WEBHOOK_SECRET, TEMPLATE_TOKEN):
        assert secret not in caplog.text
    assert "integration not connected" in caplog.text


async def test_connect_missing_required_secret_is_misconfigured(
    activities: IntegrationActivities, pool: Pool, partner_app: PartnerApp
) -> None:
    """A required secret that neither the template nor the request holds: non-retryable, no call,
    and the mask is never sent in its place."""
    world = await _world(
        pool,
        _bankfeed(partner_app.connect_url),
        template_settings={"account_id": "FR76-1"},
        effective_settings={"account_id": "FR76-1", "api_token": SECRET_MASK},
    )
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.connect_integration, world.input())
    assert (caught.value.type, caught.value.non_retryable) == ("IntegrationMisconfigured", True)
    assert "'api_token' is required" in caught.value.message
    assert partner_app.requests == []
    row = await applied_setup.get_integration(pool, client_id=world.client_id, code="bankfeed")
    assert row is not None and row.state == "failed"


async def test_record_failure_marks_failed_without_counting_an_attempt(
    activities: IntegrationActivities, pool: Pool, partner_app: PartnerApp
) -> None:
    """The workflow's verdict after retries sets the error but leaves `attempts` alone."""
    world = await _automation_world(pool, partner_app)
    partner_app.fail_next(1, status=500)
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError):
        await env.run(activities.connect_integration, world.input())
    await env.run(
        activities.record_integration_failure,
        RecordIntegrationFailureInput(
            client_id=world.client_id,
            code="bankfeed",
            kind=IntegrationKind.automation,
            error="gave up after 5 attempts",
        ),
    )
    row = await applied_setup.get_integration(pool, client_id=world.client_id, code="bankfeed")
    assert row is not None
    assert (row.state, row.attempts, row.last_error) == ("failed", 1, "gave up after 5 attempts")


async def test_record_failure_never_undoes_a_connection(
    activities: IntegrationActivities, pool: Pool, partner_app: PartnerApp
) -> None:
    """A late failure (an attempt that timed out while another connected) leaves it connected."""
    world = await _automation_world(pool, partner_app)
    env = ActivityEnvironment()
    result = await env.run(activities.connect_integration, world.input())
    await env.run(
        activities.record_integration_failure,
        RecordIntegrationFailureInput(
            client_id=world.client_id,
            code="bankfeed",
            kind=IntegrationKind.automation,
            error="late timeout",
        ),
    )
    row = await applied_setup.get_integration(pool, client_id=world.client_id, code="bankfeed")
    assert row is not None
    assert (row.state, row.external_ref, row.last_error) == (
        "connected",
        result.external_ref,
        None,
    )


# ---- the outbound policy (issue 10, finding 2) --------------------------------------------------

LEAK = "INTERNAL-ONLY-7c1e: db_password=hunter2"


async def _remote_world(pool: Pool, connect_url: str) -> World:
    return await _world(
        pool,
        _bankfeed(connect_url),
        template_settings={"account_id": "FR76-1", "api_token": TEMPLATE_TOKEN},
    )


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("127.0.0.1:{port}", "127.0.0.1 is a loopback address"),
        ("[::1]:{port}", "::1 is a loopback address"),
        ("localhost:{port}", "'localhost', a private-use name"),
        ("[::ffff:127.0.0.1]:{port}", "is a loopback address"),
        ("10.0.0.7:{port}", "10.0.0.7 is a private address"),
        ("169.254.169.254", "169.254.169.254 is a link-local address"),
        ("100.64.0.1", "100.64.0.1 is a carrier-grade NAT address"),
    ],
)
async def test_connect_url_to_a_forbidden_address_is_refused_before_any_request(
    activities: IntegrationActivities, pool: Pool, remote: Remote, target: str, reason: str
) -> None:
    """The reported SSRF: connect_url pointed at loopback, a private network, cloud metadata or
    a name resolving to 127.0.0.1 is never called (the secrets stay home), fails for good in our
    words, and is not retried."""
    remote.body = json.dumps({"message": LEAK}).encode()
    world = await _remote_world(pool, f"http://{target.format(port=remote.port)}/steal")
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.connect_integration, world.input())
    error = caught.value
    assert (error.type, error.non_retryable) == ("IntegrationMisconfigured", True)
    assert error.message.startswith(
        "integration 'bankfeed' is misconfigured: connect_url is not allowed: "
    )
    assert reason in error.message
    assert remote.received == []
    row = await applied_setup.get_integration(pool, client_id=world.client_id, code="bankfeed")
    assert row is not None and (row.state, row.last_error) == ("failed", error.message)


@pytest.mark.parametrize(
    ("status", "message", "error_type"),
    [
        (500, "integration 'bankfeed' answered 500", "IntegrationUnavailable"),
        (
            404,
            "integration 'bankfeed' refused the connection (answered 404)",
            "IntegrationRejected",
        ),
    ],
)
async def test_remote_body_never_reaches_the_error_or_the_row(
    pool: Pool,
    http: httpx.AsyncClient,
    remote: Remote,
    status: int,
    message: str,
    error_type: str,
) -> None:
    """Whatever answers at connect_url (here allowed, as an app would be) cannot write into the
    onboarding's status: the error and the row say what happened, never what it said."""
    remote.status = status
    remote.body = json.dumps({"message": LEAK, "detail": LEAK, "error": LEAK}).encode()
    activities = IntegrationActivities(
        pool, http, outbound_policy=_policy(f"127.0.0.1:{remote.port}")
    )
    world = await _remote_world(pool, f"http://127.0.0.1:{remote.port}/connect")
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.connect_integration, world.input())
    assert (caught.value.message, caught.value.type) == (message, error_type)
    assert len(remote.received) == 1  # it was called, and it answered
    row = await applied_setup.get_integration(pool, client_id=world.client_id, code="bankfeed")
    assert row is not None and row.last_error == message
    assert "INTERNAL-ONLY" not in str(caught.value) and "hunter2" not in (row.last_error or "")


async def test_redirect_is_never_followed_even_by_a_client_that_follows(
    pool: Pool, partner_app: PartnerApp, remote: Remote
) -> None:
    """A 307 to another allowed host is not followed (its target was never checked), even on
    an HTTP client configured to follow redirects: final, and the other host hears nothing."""
    remote.status = 307
    remote.headers = {"Location": partner_app.connect_url}
    policy = _policy(f"127.0.0.1:{remote.port}", f"127.0.0.1:{partner_app.port}")
    async with httpx.AsyncClient(follow_redirects=True) as following:
        activities = IntegrationActivities(pool, following, outbound_policy=policy)
        world = await _remote_world(pool, f"http://127.0.0.1:{remote.port}/connect")
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(activities.connect_integration, world.input())
    assert (caught.value.type, caught.value.non_retryable) == ("IntegrationRejected", True)
    assert "answered 307, a redirect" in caught.value.message
    assert len(remote.received) == 1
    assert partner_app.requests == []


async def test_call_goes_to_the_checked_address_under_the_original_host_name(
    pool: Pool, http: httpx.AsyncClient, remote: Remote
) -> None:
    """Pinned: the connection is made to the address that was checked, and the app still sees
    the name of its URL in Host; the connection is not kept for another name to reuse."""
    remote.status = 201
    remote.body = b'{"connection_id": "conn_42"}'
    activities = IntegrationActivities(
        pool, http, outbound_policy=_policy(f"localhost:{remote.port}")
    )
    world = await _remote_world(pool, f"http://localhost:{remote.port}/connect")
    result = await ActivityEnvironment().run(activities.connect_integration, world.input())
    assert result.external_ref == "conn_42"
    [raw] = remote.received
    head = raw.split(b"\r\n\r\n", 1)[0].decode().lower().split("\r\n")
    assert head[0] == "post /connect http/1.1"
    assert f"host: localhost:{remote.port}" in head
    assert "connection: close" in head


async def test_connection_id_that_is_not_an_id_is_not_kept(
    pool: Pool, http: httpx.AsyncClient, remote: Remote
) -> None:
    """A 2xx whose connection_id is prose (what an internal service might answer) does not get
    that prose into the client's status."""
    remote.status = 200
    remote.body = json.dumps({"connection_id": LEAK}).encode()
    activities = IntegrationActivities(
        pool, http, outbound_policy=_policy(f"127.0.0.1:{remote.port}")
    )
    world = await _remote_world(pool, f"http://127.0.0.1:{remote.port}/connect")
    result = await ActivityEnvironment().run(activities.connect_integration, world.input())
    assert result.external_ref is None
    row = await applied_setup.get_integration(pool, client_id=world.client_id, code="bankfeed")
    assert row is not None and (row.state, row.external_ref) == ("connected", None)


async def test_catalog_entry_saved_before_the_rules_fails_without_repeating_it(
    activities: IntegrationActivities, pool: Pool
) -> None:
    """A connect_url stored before it was validated (no scheme, here) is a final, named
    misconfiguration, without its value in the error."""
    world = await _remote_world(pool, "https://bank.partner.example/connect")
    await pool.execute(
        "UPDATE integrations SET body = jsonb_set(body, '{connect_url}', '\"gopher:steal\"')"
        " WHERE partner_id = $1",
        world.partner_id,
    )
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.connect_integration, world.input())
    assert (caught.value.type, caught.value.non_retryable) == ("IntegrationMisconfigured", True)
    assert "(connect_url)" in caught.value.message and "gopher" not in caught.value.message


# ---- assign_collaborators_and_subscription -------------------------------------------------------


async def test_assign_twice_leaves_the_same_rows(
    activities: IntegrationActivities, pool: Pool
) -> None:
    """A replay assigns nobody twice and keeps the first subscription, even if asked otherwise."""
    app = Integration(code="portal", name="Portal", kind=IntegrationKind.redirection)
    world = await _world(pool, app, template_settings={})
    user = await partners.create_user(
        pool,
        partner_id=world.partner_id,
        email=f"u-{uuid.uuid4().hex[:8]}@example.com",
        name="Bea",
        role=Role.accountant,
    )
    assert user is not None
    data = AssignInput(
        client_id=world.client_id,
        user_ids=[user.id, user.id],
        plan="essentials",
        add_ons=["ocr"],
        payer=Payer.partner,
        billing_period=BillingPeriod.annual,
    )
    env = ActivityEnvironment()
    first = await env.run(_assign(activities), data)
    replay = data.model_copy(update={"plan": "other", "billing_period": BillingPeriod.monthly})
    second = await env.run(_assign(activities), replay)
    assert (first.collaborators_added, first.subscription_created) == (1, True)
    assert (second.collaborators_added, second.subscription_created) == (0, False)
    assert await applied_setup.list_collaborators(pool, client_id=world.client_id) == [user.id]
    sub = await applied_setup.get_subscription(pool, client_id=world.client_id)
    assert sub is not None
    assert (sub.plan, sub.add_ons, sub.payer, sub.billing_period) == (
        "essentials",
        ["ocr"],
        "partner",
        "annual",
    )


async def test_assign_skips_users_of_another_partner(
    activities: IntegrationActivities, pool: Pool
) -> None:
    """A user id of another partner is never made a collaborator of this client."""
    app = Integration(code="portal", name="Portal", kind=IntegrationKind.redirection)
    world = await _world(pool, app, template_settings={})
    stranger = await make_tenant(pool, name="Other firm")
    result = await ActivityEnvironment().run(
        _assign(activities),
        AssignInput(
            client_id=world.client_id,
            user_ids=[stranger.admin.id],
            payer=Payer.client,
            billing_period=BillingPeriod.monthly,
        ),
    )
    assert result.collaborators_added == 0
    assert await applied_setup.list_collaborators(pool, client_id=world.client_id) == []


async def test_assign_for_missing_client_is_final(activities: IntegrationActivities) -> None:
    """No such client: non-retryable ClientMissing rather than endless retries."""
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            _assign(activities),
            AssignInput(
                client_id=uuid.uuid4(), payer=Payer.client, billing_period=BillingPeriod.monthly
            ),
        )
    assert (caught.value.type, caught.value.non_retryable) == ("ClientMissing", True)
