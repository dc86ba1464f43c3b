"""The client page's integrations over the real stack (uvicorn, PostgreSQL, Temporal with a worker,
the partner-app stand-in): adding, reconfiguring and removing an app do what the JSON routes do
(app/integrations.py), a secret is never put back in the page, a refused form names its field
and keeps what was typed, forged forms and other firms' clients change nothing, and the roles
are the API's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client

from api.console import CSRF_FIELD
from core.settings import Settings
from devstack.partner_app import CONNECT_PATH, DISCONNECT_PATH, PartnerApp
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from store import applied_setup
from store.pool import Pool
from tests.activity_helpers import SECRET
from tests.api.integration_helpers import change_worker, crm, until_finished
from tests.console_helpers import (
    _refused,
    _user,
    as_user,
    csrf_of,
    fresh_ip_limit,
    ready_client,
    sign_in_as,
)
from tests.console_helpers import client_page as _page
from tests.factories import Tenant, make_tenant

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too

NEW_SECRET = "autre-s3cret-77"


@pytest.fixture
async def partner_app() -> AsyncIterator[PartnerApp]:
    async with PartnerApp() as app:
        yield app


async def _latest(api: httpx.AsyncClient, tenant: Tenant, client_id: uuid.UUID) -> str:
    history = await api.get(f"/v1/clients/{client_id}/integrations/history", headers=tenant.auth)
    url: str = history.json()["items"][0]["status_url"]
    return url


async def test_add_reconfigure_and_remove_from_the_client_page(
    api_server: httpx.AsyncClient,
    pool: Pool,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    client: Client,
    settings: Settings,
    partner_app: PartnerApp,
) -> None:
    """A person adds the app with its token, changes its region (the token, never shown,
    kept), then removes it once the box is ticked: one connection per change and one
    disconnection at the app, the history on the page, the token nowhere in it."""
    client_id = await ready_client(pool, tenant)
    code = await crm(pool, tenant, partner_app)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await _page(api_server, cookie, client_id)
    assert f'id="ci_add_{code}"' in page.text
    base = f"/console/clients/{client_id}/integrations"
    api_server.headers.update(tenant.auth)
    async with change_worker(client, pool, settings.task_queue, partner_app):
        added = await api_server.post(
            base,
            data={
                "code": code,
                "settings.region": "eu",
                "settings.token": SECRET,
                CSRF_FIELD: csrf_of(page),
            },
            headers=as_user(cookie),
        )
        assert added.status_code == 303, added.text
        assert added.headers["location"].endswith("?done=integration_added")
        assert (await until_finished(api_server, await _latest(api_server, tenant, client_id)))[
            "state"
        ] == "done"

        page = await _page(api_server, cookie, client_id)
        assert f'id="ci_edit_{code}"' in page.text and SECRET not in page.text
        changed = await api_server.post(
            f"{base}/{code}/settings",
            data={"settings.region": "us", "settings.token": "", CSRF_FIELD: csrf_of(page)},
            headers=as_user(cookie),
        )
        assert changed.status_code == 303, changed.text
        assert (await until_finished(api_server, await _latest(api_server, tenant, client_id)))[
            "state"
        ] == "done"

        page = await _page(api_server, cookie, client_id)
        unconfirmed = await api_server.post(
            f"{base}/{code}/remove", data={CSRF_FIELD: csrf_of(page)}, headers=as_user(cookie)
        )
        assert unconfirmed.status_code == 422
        assert f'href="#ci_remove_{code}"' in unconfirmed.text
        assert not partner_app.disconnections
        removed = await api_server.post(
            f"{base}/{code}/remove",
            data={"confirm": "yes", CSRF_FIELD: csrf_of(page)},
            headers=as_user(cookie),
        )
        assert removed.status_code == 303, removed.text
        assert (await until_finished(api_server, await _latest(api_server, tenant, client_id)))[
            "state"
        ] == "done"

    sent = [r.body["settings"] for r in partner_app.requests if r.path == CONNECT_PATH]
    assert sent == [{"region": "eu", "token": SECRET}, {"region": "us", "token": SECRET}]
    assert len(partner_app.connections) == 2
    assert len([r for r in partner_app.requests if r.path == DISCONNECT_PATH]) == 1
    page = await _page(api_server, cookie, client_id)
    assert 'id="integration-history"' in page.text
    assert page.text.count(tenant.admin.name) >= 3
    assert SECRET not in page.text
    row = await applied_setup.get_integration(pool, client_id=client_id, code=code)
    assert row is not None and row.state == "removed"


async def test_a_refused_setting_is_named_and_the_secret_not_echoed(
    api_server: httpx.AsyncClient,
    pool: Pool,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    partner_app: PartnerApp,
) -> None:
    """A missing region: 422, the region's field named in the summary and marked, the token
    typed not put back in the page, nothing recorded."""
    client_id = await ready_client(pool, tenant)
    code = await crm(pool, tenant, partner_app)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await _page(api_server, cookie, client_id)
    refused = await api_server.post(
        f"/console/clients/{client_id}/integrations",
        data={
            "code": code,
            "settings.region": "",
            "settings.token": NEW_SECRET,
            CSRF_FIELD: csrf_of(page),
        },
        headers=as_user(cookie),
    )
    assert refused.status_code == 422
    assert f'href="#ci_add_{code}_0"' in refused.text
    assert f'id="ci_add_{code}_0-error"' in refused.text
    assert NEW_SECRET not in refused.text
    assert await applied_setup.list_integrations(pool, client_id=client_id) == []


async def test_forged_forms_other_firms_and_accountants_change_nothing(
    api_server: httpx.AsyncClient,
    pool: Pool,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    partner_app: PartnerApp,
) -> None:
    """No CSRF token, a wrong one or another origin: 403; another firm's client: 404; an
    accountant is offered no form and refused the add; nothing recorded for any."""
    client_id = await ready_client(pool, tenant)
    code = await crm(pool, tenant, partner_app)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    token = csrf_of(await _page(api_server, cookie, client_id))
    data = {"code": code, "settings.region": "eu", "settings.token": SECRET}
    base = f"/console/clients/{client_id}/integrations"
    await _refused(api_server, cookie, token, base, data)
    await _refused(api_server, cookie, token, f"{base}/{code}/remove", {"confirm": "yes"})

    other = await make_tenant(pool, "Cabinet Autre")
    theirs = await ready_client(pool, other)
    for path in ("", f"/{code}/settings", f"/{code}/remove", f"/{code}/try-again"):
        answer = await api_server.post(
            f"/console/clients/{theirs}/integrations{path}",
            data={**data, "confirm": "yes", CSRF_FIELD: token},
            headers=as_user(cookie),
        )
        assert answer.status_code == 404, (path, answer.text)

    accountant = await _user(pool, tenant, Role.accountant, "Chloé Compta")
    theirs_cookie, _ = await sign_in_as(api_server, smtp_sink, accountant.email)
    page = await _page(api_server, theirs_cookie, client_id)
    assert f'id="ci_add_{code}"' not in page.text
    refused = await api_server.post(
        base, data={**data, CSRF_FIELD: csrf_of(page)}, headers=as_user(theirs_cookie)
    )
    assert refused.status_code == 403
    for who in (client_id, theirs):
        assert await applied_setup.list_integrations(pool, client_id=who) == []
