"""The client page's checklist part and Settings > New clients' notifications over the real
stack (uvicorn, PostgreSQL, Temporal, SMTP sink): what each form does is what its JSON route
does (the same app/ function); forged forms change nothing; roles as the API's; another firm's
client is 404; the New client form preselects the firm's default."""

from __future__ import annotations

import re
import uuid
from html import unescape
from typing import Any

import httpx

from api.console import CSRF_FIELD
from api.console.texts import TEXTS
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from store import partners
from store.pool import Pool
from tests.console_helpers import (
    _refused,
    _user,
    as_user,
    assert_strict,
    csrf_of,
    fresh_ip_limit,
    ready_client,
    sign_in_as,
)
from tests.factories import Tenant, make_tenant

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too

CHECKLIST: dict[str, Any] = {
    "name": "Bilan annuel",
    "language": "fr",
    "items": [{"key": "bank", "kind": "document", "label": "Relevés bancaires"}],
}


async def _checklist(http: httpx.AsyncClient, tenant: Tenant, name: str = "Bilan annuel") -> str:
    made = await http.post("/v1/checklists", json=CHECKLIST | {"name": name}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def _current(http: httpx.AsyncClient, tenant: Tenant, client_id: uuid.UUID) -> str | None:
    got = await http.get(f"/v1/clients/{client_id}/checklist", headers=tenant.auth)
    return str(got.json()["name"]) if got.status_code == 200 else None


async def test_checklist_assigned_replaced_and_withdrawn_from_the_client_page(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Forged forms change nothing; the form assigns, then replaces; withdrawing without the
    box ticked is refused next to the box, ticked it withdraws."""
    client_id = await ready_client(pool, tenant)
    first = await _checklist(api_server, tenant)
    second = await _checklist(api_server, tenant, "TVA trimestrielle")
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get(f"/console/clients/{client_id}", headers=as_user(cookie))
    assert page.status_code == 200, page.text
    assert_strict(page)
    assert TEXTS["fr"]["ck_none"] in unescape(page.text)
    assert '<label for="ck_checklist_id">' in page.text
    token = csrf_of(page)
    action = f"/console/clients/{client_id}/checklist"
    await _refused(api_server, cookie, token, action, {"checklist_id": first})
    assert await _current(api_server, tenant, client_id) is None

    for chosen, name in ((first, "Bilan annuel"), (second, "TVA trimestrielle")):
        done = await api_server.post(
            action, data={"checklist_id": chosen, CSRF_FIELD: token}, headers=as_user(cookie)
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/console/clients/{client_id}?done=checklist_assigned"
        assert await _current(api_server, tenant, client_id) == name
    page = await api_server.get(done.headers["location"], headers=as_user(cookie))
    assert TEXTS["fr"]["done_checklist_assigned"] in unescape(page.text)
    assert re.search(rf'value="{second}" selected', page.text)

    unknown = await api_server.post(
        action, data={"checklist_id": "nope", CSRF_FIELD: token}, headers=as_user(cookie)
    )
    assert unknown.status_code == 422
    assert TEXTS["fr"]["cs_error_unknown"] in unescape(unknown.text)
    assert 'href="#ck_checklist_id"' in unknown.text

    withdraw = f"/console/clients/{client_id}/checklist/withdraw"
    await _refused(api_server, cookie, token, withdraw, {"confirm": "yes"})
    unconfirmed = await api_server.post(withdraw, data={CSRF_FIELD: token}, headers=as_user(cookie))
    assert unconfirmed.status_code == 422
    assert TEXTS["fr"]["cs_error_confirm"] in unescape(unconfirmed.text)
    assert 'href="#ck_confirm"' in unconfirmed.text
    assert await _current(api_server, tenant, client_id) == "TVA trimestrielle"
    gone = await api_server.post(
        withdraw, data={"confirm": "yes", CSRF_FIELD: token}, headers=as_user(cookie)
    )
    assert gone.status_code == 303, gone.text
    assert gone.headers["location"].endswith("?done=checklist_withdrawn")
    assert await _current(api_server, tenant, client_id) is None


async def test_accountant_is_offered_no_checklist_form_and_refused_one(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """As the API: an accountant sees the checklist but no form, and a forged post is 403."""
    client_id = await ready_client(pool, tenant)
    chosen = await _checklist(api_server, tenant)
    accountant = await _user(pool, tenant, Role.accountant, "Chloé Compta")
    cookie, _ = await sign_in_as(api_server, smtp_sink, accountant.email)
    page = await api_server.get(f"/console/clients/{client_id}", headers=as_user(cookie))
    assert page.status_code == 200
    assert f"/console/clients/{client_id}/checklist" not in page.text
    refused = await api_server.post(
        f"/console/clients/{client_id}/checklist",
        data={"checklist_id": chosen, CSRF_FIELD: csrf_of(page)},
        headers=as_user(cookie),
    )
    assert refused.status_code == 403
    assert await _current(api_server, tenant, client_id) is None


async def test_another_firm_s_client_checklist_forms_are_404(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Another firm's client: both forms 404, nothing assigned."""
    other = await make_tenant(pool, "Cabinet Autre")
    foreign = await ready_client(pool, other)
    chosen = await _checklist(api_server, tenant)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    token = csrf_of(
        await api_server.get("/console/settings/notifications", headers=as_user(cookie))
    )
    for path, data in (
        ("checklist", {"checklist_id": chosen}),
        ("checklist/withdraw", {"confirm": "yes"}),
    ):
        answer = await api_server.post(
            f"/console/clients/{foreign}/{path}",
            data={**data, CSRF_FIELD: token},
            headers=as_user(cookie),
        )
        assert answer.status_code == 404
    assert await _current(api_server, other, foreign) is None


async def test_notifications_default_changed_in_settings_and_preselected_for_new_clients(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink
) -> None:
    """A new firm keeps new clients muted: the New client form preselects "keep them off";
    an administrator unticks it (forged posts change nothing), and the form follows; a client
    manager reads the setting without a form and cannot change it."""
    tenant = await make_tenant(pool, new_clients_muted=True)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    new = await api_server.get("/console/clients/new", headers=as_user(cookie))
    assert re.search(r'id="notifications_off" name="notifications" value="off" checked', new.text)
    page = await api_server.get("/console/settings/notifications", headers=as_user(cookie))
    assert page.status_code == 200, page.text
    assert_strict(page)
    assert re.search(r'id="new_clients_muted"[^>]* checked', page.text)
    token = csrf_of(page)
    action = "/console/settings/notifications"
    await _refused(api_server, cookie, token, action, {})
    assert await partners.new_clients_muted(pool, partner_id=tenant.partner.id)
    saved = await api_server.post(action, data={CSRF_FIELD: token}, headers=as_user(cookie))
    assert saved.status_code == 303, saved.text
    assert not await partners.new_clients_muted(pool, partner_id=tenant.partner.id)
    new = await api_server.get("/console/clients/new", headers=as_user(cookie))
    assert re.search(r'id="notifications" name="notifications" value="on" checked', new.text)

    manager = await _user(pool, tenant, Role.client_manager, "Marc Gestion")
    theirs, _ = await sign_in_as(api_server, smtp_sink, manager.email)
    page = await api_server.get(action, headers=as_user(theirs))
    assert page.status_code == 200
    assert TEXTS["fr"]["nd_state_off"] in unescape(page.text)
    assert 'name="new_clients_muted"' not in page.text
    refused = await api_server.post(
        action, data={"new_clients_muted": "1", CSRF_FIELD: csrf_of(page)}, headers=as_user(theirs)
    )
    assert refused.status_code == 403
    assert not await partners.new_clients_muted(pool, partner_id=tenant.partner.id)
