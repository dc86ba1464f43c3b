"""/v1/webhooks and the worker's delivery loop, against a real HTTP receiver on loopback: the
signatures are checked by the reference `standardwebhooks` library, failures retried with
backoff, a killed loop's delivery retaken, partners kept apart, secrets rotated."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from temporalio.client import Client
from temporalio.worker import Worker

from api.deps import Services
from api.main import create_app
from core.settings import Settings
from devstack.serving import serve_app
from devstack.smtp_sink import Received, SmtpSink
from store import onboardings
from store import webhooks as store
from store.pool import Pool
from tests.e2e.processes import ROOT, worker_env
from tests.eventually import eventually
from tests.factories import Tenant, make_client, make_tenant
from tests.webhook_receiver import Receiver, receiving
from worker.webhooks import DeliveryLoop, delivering


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


@pytest.fixture
def hook_settings(settings: Settings, receiver: Receiver) -> Settings:
    """Test settings: the receiver's loopback port allowed, backoff and polling in tenths of a
    second so retries take a second, not days."""
    port = receiver.base_url.rsplit(":", 1)[1]
    return settings.model_copy(
        update={
            "outbound_allow_private_hosts": [f"127.0.0.1:{port}"],
            "webhook_backoff_base_seconds": 0.05,
            "webhook_backoff_max_seconds": 1.0,
            "webhook_poll_seconds": 0.05,
            "webhook_timeout_seconds": 5.0,
        }
    )


@pytest.fixture
async def api_base(
    hook_settings: Settings, pool: Pool, client: Client
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        hook_settings, services=Services(settings=hook_settings, pool=pool, temporal=client)
    )
    async with serve_app(app, access_log=False) as http:
        yield http


@pytest.fixture
async def api(
    api_base: httpx.AsyncClient, tenant: Tenant, pool: Pool
) -> AsyncIterator[httpx.AsyncClient]:
    """The API as `tenant`'s administrator; the tenant's endpoints are deleted afterwards so no
    later test's loop tries them."""
    api_base.headers.update(tenant.auth)
    yield api_base
    await _delete_all(pool, tenant)


async def _delete_all(pool: Pool, tenant: Tenant) -> None:
    rows, _ = await store.list_endpoints(pool, partner_id=tenant.partner.id, limit=200, offset=0)
    for row in rows:
        await store.delete_endpoint(pool, partner_id=tenant.partner.id, endpoint_id=row.id)


@contextlib.asynccontextmanager
async def _loop(pool: Pool, settings: Settings) -> AsyncIterator[DeliveryLoop]:
    """The delivery loop as the worker runs it (worker.webhooks.delivering)."""
    async with httpx.AsyncClient() as http, delivering(pool, http, settings) as loop:
        yield loop


async def _subscribe(
    api: httpx.AsyncClient, url: str, types: list[str] | None = None
) -> dict[str, Any]:
    response = await api.post(
        "/v1/webhooks", json={"url": url, "event_types": types or ["onboarding.ready"]}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _ready(pool: Pool, tenant: Tenant, status: str = "READY") -> uuid.UUID:
    """An onboarding of `tenant` reaching `status`, written as the workflow's activity does."""
    onboarding_id, _ = await make_client(pool, tenant, name="Moreau & Fils", email="lea@m.example")
    await onboardings.set_status(pool, onboarding_id=onboarding_id, status=status)
    return onboarding_id


async def _deliveries(api: httpx.AsyncClient, endpoint_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/webhooks/{endpoint_id}/deliveries")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _settled(
    api: httpx.AsyncClient, endpoint_id: str, count: int = 1
) -> list[dict[str, Any]]:
    """The deliveries once `count` of them are no longer pending."""
    return await eventually(
        lambda: _deliveries(api, endpoint_id),
        until=lambda items: sum(d["state"] != "pending" for d in items) >= count,
        what=f"{count} deliveries no longer pending",
        within=10,
    )


# ---- the API ------------------------------------------------------------------------------------


async def test_create_shows_secret_once_then_list_read_delete(
    api: httpx.AsyncClient, receiver: Receiver
) -> None:
    """The secret is in the creation's answer only; a deleted endpoint is gone (404)."""
    created = await _subscribe(api, receiver.url(), ["onboarding.ready", "invitation.accepted"])
    assert created["secret"].startswith("whsec_")
    Webhook(created["secret"])  # the library reads it as a secret
    listed = (await api.get("/v1/webhooks")).json()
    assert [w["id"] for w in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]
    one = await api.get(f"/v1/webhooks/{created['id']}")
    assert one.status_code == 200 and "secret" not in one.json()
    assert one.json()["event_types"] == ["onboarding.ready", "invitation.accepted"]
    assert (await api.delete(f"/v1/webhooks/{created['id']}")).status_code == 204
    assert (await api.get(f"/v1/webhooks/{created['id']}")).status_code == 404
    assert (await api.delete(f"/v1/webhooks/{created['id']}")).status_code == 404


async def test_url_and_event_types_are_checked(api: httpx.AsyncClient) -> None:
    """URLs go through the outbound policy (loopback only where listed); types are known ones."""
    for url in (
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest",
        "ftp://x.example/",
        "https://x.example/a b",
        "https://x.example:99999/",
    ):
        response = await api.post(
            "/v1/webhooks", json={"url": url, "event_types": ["import.finished"]}
        )
        assert response.status_code == 422, url
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == ["url"]
    response = await api.post(
        "/v1/webhooks", json={"url": "https://x.example/", "event_types": ["onboarding.nope"]}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "event_types.0"


async def test_webhooks_are_for_administrators_only(
    api: httpx.AsyncClient, api_base: httpx.AsyncClient, receiver: Receiver
) -> None:
    """A client manager's key gets 403 on every webhook route."""
    created = await _subscribe(api, receiver.url())
    user = await api.post(
        "/v1/users",
        json={"email": f"cm-{uuid.uuid4().hex[:6]}@ex.com", "name": "C", "role": "client_manager"},
    )
    key = (await api.post(f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"})).json()
    other = {"Authorization": f"Bearer {key['key']}"}
    async with httpx.AsyncClient(base_url=api_base.base_url, headers=other) as manager:
        for method, path in (
            ("GET", "/v1/webhooks"),
            ("POST", "/v1/webhooks"),
            ("DELETE", f"/v1/webhooks/{created['id']}"),
            ("POST", f"/v1/webhooks/{created['id']}/rotate-secret"),
            ("GET", f"/v1/webhooks/{created['id']}/deliveries"),
        ):
            response = await manager.request(
                method, path, json={"url": receiver.url(), "event_types": ["import.finished"]}
            )
            assert response.status_code == 403, (method, path)


# ---- delivery -----------------------------------------------------------------------------------


async def test_event_is_signed_and_verified_by_the_library(
    api: httpx.AsyncClient, receiver: Receiver, pool: Pool, tenant: Tenant, hook_settings: Settings
) -> None:
    """The receiver checks the signature with standardwebhooks; the body has ids, no people."""
    created = await _subscribe(api, receiver.url())
    async with _loop(pool, hook_settings):
        onboarding_id = await _ready(pool, tenant)
        [got] = await receiver.wait_for(1)
        [delivery] = await _settled(api, created["id"])
    payload = Webhook(created["secret"]).verify(got.body, got.webhook_headers)
    assert payload["type"] == "onboarding.ready"
    assert payload["data"] == {
        "onboarding_id": str(onboarding_id),
        "status": "READY",
        "previous_status": "SETTING_UP",
    }
    assert b"Moreau" not in got.body and b"lea@" not in got.body
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "B" * 44).verify(got.body, got.webhook_headers)
    assert delivery["event_id"] == got.headers["webhook-id"]
    assert delivery["state"] == "delivered" and delivery["last_status_code"] == 200


async def test_receiver_failing_three_times_gets_the_event_once_after_four_attempts(
    api: httpx.AsyncClient, receiver: Receiver, pool: Pool, tenant: Tenant, hook_settings: Settings
) -> None:
    """500, 500, 500 then 200: four attempts with the same webhook-id, one success, logged."""
    created = await _subscribe(api, receiver.url())
    receiver.script = [500, 500, 500]
    async with _loop(pool, hook_settings):
        await _ready(pool, tenant)
        got = await receiver.wait_for(4)
        [delivery] = await _settled(api, created["id"])
    # Delivered is final (the loop claims pending deliveries only): no fifth request can come.
    assert delivery["state"] == "delivered"
    assert len(receiver.received) == 4
    assert len({r.headers["webhook-id"] for r in got}) == 1
    for r in got:
        Webhook(created["secret"]).verify(r.body, r.webhook_headers)
    assert delivery["state"] == "delivered"
    assert delivery["attempts"] == 4
    assert [a["status_code"] for a in delivery["log"]] == [500, 500, 500, 200]
    assert [a["error"] for a in delivery["log"]][:3] == ["the endpoint answered 500"] * 3
    assert all(a["latency_ms"] is not None for a in delivery["log"])
    assert delivery["next_attempt_at"] is None
    assert "never echoed" not in str(delivery)


async def test_pending_delivery_shows_its_next_retry(
    api: httpx.AsyncClient, receiver: Receiver, pool: Pool, tenant: Tenant, hook_settings: Settings
) -> None:
    """Between attempts the log shows the failure and when the next attempt is due."""
    # The next try a minute away (the cap too: the capped delay is what the loop waits).
    slow = hook_settings.model_copy(
        update={"webhook_backoff_base_seconds": 60.0, "webhook_backoff_max_seconds": 60.0}
    )
    created = await _subscribe(api, receiver.url())
    receiver.script = [503]
    async with _loop(pool, slow):
        await _ready(pool, tenant)
        await receiver.wait_for(1)

        async def the_delivery() -> dict[str, Any]:
            [delivery] = await _deliveries(api, created["id"])
            return delivery

        delivery = await eventually(
            the_delivery,
            until=lambda d: d["log"] and d["log"][0]["status_code"],
            what="the delivery's first attempt logged with its status code",
            within=10,
        )
    assert delivery["state"] == "pending" and delivery["attempts"] == 1
    assert delivery["last_status_code"] == 503
    assert delivery["next_attempt_at"] > delivery["log"][0]["started_at"]


# The delivery loop alone, in a process of its own, configured from the environment as
# `onboarding worker` is: the test kills it with SIGKILL, so nothing of it runs on the way out.
LOOP_PROCESS = """
import asyncio, httpx
from core.settings import Settings
from store.pool import create_pool
from worker.webhooks import DeliveryLoop

async def main() -> None:
    settings = Settings()
    pool = await create_pool(settings.require_database_url(), min_size=1, max_size=2)
    async with httpx.AsyncClient() as http:
        await DeliveryLoop(pool, http, settings).run()

asyncio.run(main())
"""


async def test_worker_killed_mid_delivery_is_retaken_and_delivers(
    api: httpx.AsyncClient, receiver: Receiver, pool: Pool, tenant: Tenant, hook_settings: Settings
) -> None:
    """A loop process SIGKILLed while the receiver holds its request leaves a lease; once it
    lapses another loop retakes the delivery and delivers it, with the same webhook-id."""
    # The killed process's attempt would time out after 1.4 s: it is killed well before.
    leased = hook_settings.model_copy(
        update={"webhook_lease_seconds": 1.5, "webhook_timeout_seconds": 1.4}
    )
    env = {
        **worker_env(leased),
        "ONBOARDING_OUTBOUND_ALLOW_PRIVATE_HOSTS": json.dumps(leased.outbound_allow_private_hosts),
        "ONBOARDING_WEBHOOK_LEASE_SECONDS": str(leased.webhook_lease_seconds),
        "ONBOARDING_WEBHOOK_TIMEOUT_SECONDS": str(leased.webhook_timeout_seconds),
        "ONBOARDING_WEBHOOK_POLL_SECONDS": "0.05",
    }
    created = await _subscribe(api, receiver.url())
    receiver.hold_paths = {"/hook"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOOP_PROCESS, env=env, cwd=ROOT, stderr=asyncio.subprocess.PIPE
    )
    try:
        await _ready(pool, tenant)
        [first] = await receiver.wait_for(1, within=20)
        receiver.hold_paths = set()  # the next request is answered at once
    finally:
        process.kill()
        await process.wait()
    async with _loop(pool, leased):
        second = (await receiver.wait_for(2))[1]
        [delivery] = await _settled(api, created["id"])
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    Webhook(created["secret"]).verify(second.body, second.webhook_headers)
    assert delivery["state"] == "delivered" and delivery["attempts"] == 2
    assert [a["status_code"] for a in delivery["log"]] == [None, 200]


async def test_events_never_reach_another_partners_endpoint(
    api: httpx.AsyncClient,
    api_base: httpx.AsyncClient,
    receiver: Receiver,
    pool: Pool,
    tenant: Tenant,
    hook_settings: Settings,
) -> None:
    """Two partners, each with an endpoint: each receives its own onboardings' events only."""
    mine = await _subscribe(api, receiver.url("/mine"))
    other_tenant = await make_tenant(pool, "Other firm")
    async with httpx.AsyncClient(base_url=api_base.base_url, headers=other_tenant.auth) as other:
        theirs = await _subscribe(other, receiver.url("/theirs"))
        try:
            async with _loop(pool, hook_settings):
                my_onboarding = await _ready(pool, tenant)
                their_onboarding = await _ready(pool, other_tenant)
                got = await receiver.wait_for(2)
                # Deliveries are written with the event: one each, both final, is all there is.
                assert len(await _settled(api, mine["id"])) == 1
                assert len(await _settled(other, theirs["id"])) == 1
            assert len(receiver.received) == 2
            by_path = {r.path: r for r in got}
            assert by_path["/mine"].json["data"]["onboarding_id"] == str(my_onboarding)
            assert by_path["/theirs"].json["data"]["onboarding_id"] == str(their_onboarding)
            Webhook(mine["secret"]).verify(by_path["/mine"].body, by_path["/mine"].webhook_headers)
            Webhook(theirs["secret"]).verify(
                by_path["/theirs"].body, by_path["/theirs"].webhook_headers
            )
            # Neither partner can see or act on the other's endpoint.
            assert (await api.get(f"/v1/webhooks/{theirs['id']}")).status_code == 404
            assert (await api.get(f"/v1/webhooks/{theirs['id']}/deliveries")).status_code == 404
        finally:
            await _delete_all(pool, other_tenant)


async def test_rotated_secret_both_old_and_new_verify(
    api: httpx.AsyncClient, receiver: Receiver, pool: Pool, tenant: Tenant, hook_settings: Settings
) -> None:
    """During the grace period each message carries a signature under each secret."""
    created = await _subscribe(api, receiver.url())
    rotated = await api.post(f"/v1/webhooks/{created['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != created["secret"] and rotated.json()["previous_secret_valid_until"]
    async with _loop(pool, hook_settings):
        await _ready(pool, tenant)
        [got] = await receiver.wait_for(1)
        await _settled(api, created["id"])
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(created["secret"]).verify(got.body, got.webhook_headers)  # receivers not updated yet
    Webhook(new_secret).verify(got.body, got.webhook_headers)  # receivers already updated


async def test_redeliver_sends_the_same_event_again(
    api: httpx.AsyncClient, receiver: Receiver, pool: Pool, tenant: Tenant, hook_settings: Settings
) -> None:
    """A delivered event can be sent again (same webhook-id); a pending one answers 409."""
    created = await _subscribe(api, receiver.url())
    hooks = f"/v1/webhooks/{created['id']}/deliveries"
    async with _loop(pool, hook_settings):
        await _ready(pool, tenant)
        await receiver.wait_for(1)
        [delivery] = await _settled(api, created["id"])
        again = await api.post(f"{hooks}/{delivery['id']}/redeliver")
        assert again.status_code == 202, again.text
        got = await receiver.wait_for(2)
        [delivery] = await _settled(api, created["id"])
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
    assert delivery["attempts"] == 2 and delivery["state"] == "delivered"
    unknown = await api.post(f"{hooks}/{uuid.uuid4()}/redeliver")
    assert unknown.status_code == 404


async def test_redeliver_of_a_pending_delivery_is_a_conflict(
    api: httpx.AsyncClient, receiver: Receiver, pool: Pool, tenant: Tenant
) -> None:
    """No loop runs: the delivery stays pending, and a redelivery is refused with 409."""
    created = await _subscribe(api, receiver.url())
    await _ready(pool, tenant)
    [delivery] = await _deliveries(api, created["id"])
    assert delivery["state"] == "pending"
    response = await api.post(f"/v1/webhooks/{created['id']}/deliveries/{delivery['id']}/redeliver")
    assert response.status_code == 409
    assert response.json()["type"].endswith("/delivery-pending")


async def test_one_onboardings_events_arrive_in_order(
    api: httpx.AsyncClient, receiver: Receiver, pool: Pool, tenant: Tenant, hook_settings: Settings
) -> None:
    """READY fails once: COMPLETED, written after it, waits and arrives after READY's retry."""
    created = await _subscribe(api, receiver.url(), ["onboarding.ready", "onboarding.completed"])
    receiver.script = [500]
    async with _loop(pool, hook_settings):
        onboarding_id = await _ready(pool, tenant)
        await onboardings.set_status(pool, onboarding_id=onboarding_id, status="COMPLETED")
        got = await receiver.wait_for(3)
        await _settled(api, created["id"], 2)
    assert [r.json["type"] for r in got] == [
        "onboarding.ready",
        "onboarding.ready",
        "onboarding.completed",
    ]


async def test_failing_endpoint_is_disabled_and_administrators_emailed(
    api: httpx.AsyncClient,
    receiver: Receiver,
    pool: Pool,
    tenant: Tenant,
    hook_settings: Settings,
    smtp_sink: SmtpSink,
) -> None:
    """Past the failing period (0 here) the endpoint is disabled, its administrators told once;
    enabling it again delivers the event it kept."""
    quick = hook_settings.model_copy(update={"webhook_disable_after_hours": 0.0})
    created = await _subscribe(api, receiver.url())
    receiver.script = [500]
    async with _loop(pool, quick):
        await _ready(pool, tenant)
        await receiver.wait_for(1)
        mail = await _mail_to(smtp_sink, tenant.admin.email)
        # Disabled: not retried. Exact: the failed attempt and the disabling are one
        # transaction, and a disabled endpoint's deliveries are never claimed again.
        attempts = await pool.fetchval(
            "SELECT sum(attempts) FROM webhook_deliveries WHERE endpoint_id = $1",
            uuid.UUID(created["id"]),
        )
        assert attempts == 1
        assert len(receiver.received) == 1
        endpoint = (await api.get(f"/v1/webhooks/{created['id']}")).json()
        assert endpoint["disabled_at"] is not None
        assert endpoint["disabled_reason"].startswith("every delivery failed since ")
        assert mail.message["To"] == tenant.admin.email
        assert created["id"] in mail.message.get_content()
        enabled = await api.post(f"/v1/webhooks/{created['id']}/enable")
        assert enabled.status_code == 200 and enabled.json()["disabled_at"] is None
        await receiver.wait_for(2)
        [delivery] = await _settled(api, created["id"])
    assert delivery["state"] == "delivered"
    # Once (the loop also tells about endpoints other tests left disabled: not counted here).
    assert [m for m in smtp_sink.handler.messages if tenant.admin.email in m.rcpt_tos] == [mail]


async def _mail_to(sink: SmtpSink, address: str, within: float = 20.0) -> Received:

    async def found() -> list[Received]:
        return [m for m in sink.handler.messages if address in m.rcpt_tos]

    return (await eventually(found, what="an e-mail to the administrator", within=within))[0]


async def test_a_real_onboarding_reports_ready_then_invitation_sent(
    api: httpx.AsyncClient,
    receiver: Receiver,
    pool: Pool,
    hook_settings: Settings,
    worker: Worker,
    smtp_sink: SmtpSink,
) -> None:
    """End to end: the workflow's own writes (status projection, e-mail log) emit the events,
    delivered in the order they happened, with no personal data."""
    created = await _subscribe(api, receiver.url(), ["onboarding.ready", "invitation.sent"])
    async with _loop(pool, hook_settings):
        response = await api.post(
            "/v1/onboardings",
            json={
                "client": {
                    "first_name": "Léa",
                    "last_name": "Moreau",
                    "email": "lea@moreau.example",
                    "language": "fr",
                    "company_name": "Moreau & Fils",
                },
                "notifications": {"keep_muted": False},
            },
            headers={"Idempotency-Key": f"hook-{uuid.uuid4()}"},
        )
        assert response.status_code == 202, response.text
        got = await receiver.wait_for(2, within=30)
        await _settled(api, created["id"], 2)
    onboarding_id = response.json()["id"]
    assert [(r.json["type"], r.json["data"]["onboarding_id"]) for r in got] == [
        ("onboarding.ready", onboarding_id),
        ("invitation.sent", onboarding_id),
    ]
    for r in got:
        Webhook(created["secret"]).verify(r.body, r.webhook_headers)
        assert b"Moreau" not in r.body and b"lea@" not in r.body
