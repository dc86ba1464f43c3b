"""The console's Webhooks pages over the real stack (uvicorn, PostgreSQL, SMTP sink, the worker's
delivery loop, a real receiver on loopback): an endpoint added from the form shows its secret
once and a second sending adds nothing; a URL the outbound policy refuses is refused as the
API refuses it; deliveries are listed and redelivered once; forms without their CSRF token or
from another origin change nothing; another firm's endpoint is 404; administrators only."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from api.console import CSRF_FIELD
from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from store import onboardings, partners
from store import webhooks as store
from store.pool import Pool
from tests.console_helpers import EVIL, as_user, assert_strict, csrf_of, fresh_ip_limit, sign_in_as
from tests.eventually import eventually
from tests.factories import Tenant, make_client, make_tenant
from tests.webhook_receiver import Receiver, receiving
from worker.webhooks import delivering

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too

PAGE = "/console/settings/webhooks"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


@pytest.fixture
def settings(settings: Settings, receiver: Receiver) -> Settings:
    """The receiver's loopback port allowed; retries and polling in hundredths of a second."""
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


@pytest.fixture(autouse=True)
async def endpoints_removed(pool: Pool, tenant: Tenant) -> AsyncIterator[None]:
    """The tenant's endpoints go after the test: no later test's loop tries them."""
    yield
    rows, _ = await store.list_endpoints(pool, partner_id=tenant.partner.id, limit=200, offset=0)
    for row in rows:
        await store.delete_endpoint(pool, partner_id=tenant.partner.id, endpoint_id=row.id)


@contextlib.asynccontextmanager
async def _loop(pool: Pool, settings: Settings) -> AsyncIterator[None]:
    async with httpx.AsyncClient() as http, delivering(pool, http, settings):
        yield


def _nonce(page: httpx.Response) -> str:
    match = re.search(r'name="nonce" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def _endpoints(http: httpx.AsyncClient, tenant: Tenant) -> list[dict[str, object]]:
    answer = await http.get("/v1/webhooks", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, object]] = answer.json()["items"]
    return items


async def _add(
    http: httpx.AsyncClient, cookie: str, receiver: Receiver
) -> tuple[str, httpx.Response]:
    """Add the receiver's endpoint from the form; (its id, the page showing its secret)."""
    page = await http.get(PAGE, headers=as_user(cookie))
    form = {
        CSRF_FIELD: csrf_of(page),
        "nonce": _nonce(page),
        "url": receiver.url(),
        "event_types": "onboarding.ready",
    }
    added = await http.post(PAGE, data=form, headers=as_user(cookie))
    assert added.status_code == 200, added.text
    match = re.search(r'href="/console/settings/webhooks/([0-9a-f-]{36})"', added.text)
    assert match, added.text
    return match.group(1), added


async def test_webhook_added_from_the_form_shows_its_secret_once_and_is_added_once(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, receiver: Receiver
) -> None:
    """The form adds the endpoint and its answer shows the whsec_ secret; the same form sent
    again (double click, reload) adds nothing and says the endpoint exists; the list shows it."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get(PAGE, headers=as_user(cookie))
    assert page.status_code == 200
    assert_strict(page)
    assert 'href="/console/settings/webhooks"' in page.text  # in the navigation
    form = {
        CSRF_FIELD: csrf_of(page),
        "nonce": _nonce(page),
        "url": receiver.url(),
        "event_types": ["onboarding.ready", "invitation.sent"],
    }
    first, second = await asyncio.gather(
        api_server.post(PAGE, data=form, headers=as_user(cookie)),
        api_server.post(PAGE, data=form, headers=as_user(cookie)),
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 303], (first.text, second.text)
    shown = first if first.status_code == 200 else second
    assert_strict(shown)
    [secret] = re.findall(r'value="(whsec_[^"]+)"', shown.text)
    again = await api_server.post(PAGE, data=form, headers=as_user(cookie))
    assert again.status_code == 303
    assert again.headers["location"] == f"{PAGE}?done=exists"
    assert secret not in (await api_server.get(PAGE, headers=as_user(cookie))).text
    [endpoint] = await _endpoints(api_server, tenant)
    assert endpoint["url"] == receiver.url()
    assert endpoint["event_types"] == ["onboarding.ready", "invitation.sent"]
    listed = await api_server.get(again.headers["location"], headers=as_user(cookie))
    assert receiver.url() in listed.text and "déjà ajouté" in listed.text


async def test_webhook_url_is_judged_by_the_outbound_policy_as_the_api_judges_it(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """A private address, a non-URL and no event are refused next to their fields in French,
    the typed URL kept; POST /v1/webhooks refuses the private address on `url` too; nothing
    is added."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get(PAGE, headers=as_user(cookie))
    base = {CSRF_FIELD: csrf_of(page), "nonce": _nonce(page)}
    private = await api_server.post(
        PAGE,
        data={**base, "url": "http://10.0.0.7/hook", "event_types": "onboarding.ready"},
        headers=as_user(cookie),
    )
    assert private.status_code == 422
    assert "Cette adresse ne peut pas être appelée" in private.text
    assert 'value="http://10.0.0.7/hook"' in private.text
    assert 'href="#url"' in private.text
    garbled = await api_server.post(
        PAGE, data={**base, "url": "not a url"}, headers=as_user(cookie)
    )
    assert garbled.status_code == 422
    assert "Saisissez une adresse comme" in garbled.text
    assert "Choisissez au moins un événement" in garbled.text
    api_says = await api_server.post(
        "/v1/webhooks",
        json={"url": "http://10.0.0.7/hook", "event_types": ["onboarding.ready"]},
        headers=tenant.auth,
    )
    assert api_says.status_code == 422
    assert [e["field"] for e in api_says.json()["errors"]] == ["url"]
    assert await _endpoints(api_server, tenant) == []


async def test_deliveries_are_listed_and_redelivered_once(
    api_server: httpx.AsyncClient,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    receiver: Receiver,
    pool: Pool,
    settings: Settings,
) -> None:
    """The endpoint's page lists a delivered event (attempts, last answer 200) with Redeliver;
    Redeliver sent twice queues it once (the second is refused while it is pending); the
    receiver gets it again with the same webhook-id."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    endpoint_id, _ = await _add(api_server, cookie, receiver)
    endpoint_page = f"{PAGE}/{endpoint_id}"
    async with _loop(pool, settings):
        onboarding_id, _ = await make_client(pool, tenant, name="Moreau & Fils")
        await onboardings.set_status(pool, onboarding_id=onboarding_id, status="READY")
        await receiver.wait_for(1)

        async def endpoint() -> httpx.Response:
            return await api_server.get(endpoint_page, headers=as_user(cookie))

        page = await eventually(
            endpoint, until=lambda p: "Remis" in p.text, what="the delivery shown as delivered"
        )
    assert page.status_code == 200
    assert_strict(page)
    assert "onboarding.ready" in page.text and "<td>200</td>" in page.text
    action = re.search(r'action="([^"]+/redeliver)"', page.text)
    assert action
    form = {CSRF_FIELD: csrf_of(page)}
    done = await api_server.post(action.group(1), data=form, headers=as_user(cookie))
    assert done.headers["location"] == f"{endpoint_page}?done=redelivered"
    twice = await api_server.post(action.group(1), data=form, headers=as_user(cookie))
    assert twice.headers["location"] == f"{endpoint_page}?refused=pending"
    shown = await api_server.get(twice.headers["location"], headers=as_user(cookie))
    assert "encore en cours" in shown.text
    async with _loop(pool, settings):
        got = await receiver.wait_for(2)
    # Exact: the loop has stopped, and every delivery it ever claimed counts an attempt (a
    # third send would show here even if the receiver had not seen it yet).
    claimed = await pool.fetchval(
        "SELECT sum(d.attempts) FROM webhook_deliveries d JOIN webhook_endpoints e "
        "ON e.id = d.endpoint_id WHERE e.partner_id = $1",
        tenant.partner.id,
    )
    assert claimed == 2
    assert len(receiver.received) == 2
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]


async def test_webhook_forms_without_token_or_from_another_origin_change_nothing(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, receiver: Receiver
) -> None:
    """Adding, removing: without the CSRF token, with a wrong one or from another Origin, 403
    and nothing added or removed."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    endpoint_id, _ = await _add(api_server, cookie, receiver)
    page = await api_server.get(PAGE, headers=as_user(cookie))
    token = csrf_of(page)
    add = {"nonce": _nonce(page), "url": receiver.url("/other"), "event_types": "invitation.sent"}
    for action, data in ((PAGE, add), (f"{PAGE}/{endpoint_id}/delete", {})):
        answers = [
            await api_server.post(action, data=data, headers=as_user(cookie)),
            await api_server.post(
                action, data={**data, CSRF_FIELD: "x" * 43}, headers=as_user(cookie)
            ),
            await api_server.post(
                action,
                data={**data, CSRF_FIELD: token},
                headers={**as_user(cookie), "Origin": EVIL},
            ),
        ]
        assert [a.status_code for a in answers] == [403] * 3, action
    [endpoint] = await _endpoints(api_server, tenant)
    assert endpoint["id"] == endpoint_id
    removed = await api_server.post(
        f"{PAGE}/{endpoint_id}/delete", data={CSRF_FIELD: token}, headers=as_user(cookie)
    )
    assert removed.headers["location"] == f"{PAGE}?done=deleted"
    assert await _endpoints(api_server, tenant) == []


async def test_another_firms_endpoint_is_not_found(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """Its page, its removal and its redelivery are 404, like an unknown id; it stays."""
    other = await make_tenant(pool, "Another firm")
    theirs = await store.create_endpoint(
        pool,
        partner_id=other.partner.id,
        url="https://hooks.other.example/in",
        event_types=["onboarding.ready"],
        secret="whsec_" + "A" * 32,
        created_by=other.admin.id,
    )
    try:
        cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
        token = csrf_of(await api_server.get(PAGE, headers=as_user(cookie)))
        for target in (theirs.id, uuid.uuid4()):
            page = await api_server.get(f"{PAGE}/{target}", headers=as_user(cookie))
            assert page.status_code == 404
            assert "hooks.other.example" not in page.text
            for action in ("delete", f"deliveries/{uuid.uuid4()}/redeliver"):
                answer = await api_server.post(
                    f"{PAGE}/{target}/{action}", data={CSRF_FIELD: token}, headers=as_user(cookie)
                )
                assert answer.status_code == 404, action
        assert await store.get_endpoint(pool, partner_id=other.partner.id, endpoint_id=theirs.id)
    finally:
        await store.delete_endpoint(pool, partner_id=other.partner.id, endpoint_id=theirs.id)


async def test_webhooks_are_for_administrators_only(
    api_server: httpx.AsyncClient,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    pool: Pool,
    receiver: Receiver,
) -> None:
    """A client manager and an accountant get 403 on the pages and the forms, as on
    /v1/webhooks; nothing is added."""
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    endpoint_id, _ = await _add(api_server, cookie, receiver)
    for role in (Role.client_manager, Role.accountant):
        user = await partners.create_user(
            pool,
            partner_id=tenant.partner.id,
            email=f"{role.value}-{uuid.uuid4().hex[:6]}@example.com",
            name=role.value,
            role=role,
            language="en",
        )
        assert user is not None
        cookie, _ = await sign_in_as(api_server, smtp_sink, user.email)
        listed = await api_server.get(PAGE, headers=as_user(cookie))
        assert listed.status_code == 403, role
        assert receiver.url() not in listed.text
        assert 'href="/console/settings/webhooks"' not in listed.text  # not offered
        token = csrf_of(listed)  # the layout's sign-out form carries it
        assert (
            await api_server.get(f"{PAGE}/{endpoint_id}", headers=as_user(cookie))
        ).status_code == 403
        added = await api_server.post(
            PAGE,
            data={
                CSRF_FIELD: token,
                "nonce": "n" * 22,
                "url": receiver.url("/x"),
                "event_types": "onboarding.ready",
            },
            headers=as_user(cookie),
        )
        removed = await api_server.post(
            f"{PAGE}/{endpoint_id}/delete", data={CSRF_FIELD: token}, headers=as_user(cookie)
        )
        assert [added.status_code, removed.status_code] == [403, 403], role
    assert [e["id"] for e in await _endpoints(api_server, tenant)] == [endpoint_id]
