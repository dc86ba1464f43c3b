"""The console's Settings pages over the real stack (uvicorn, PostgreSQL, SMTP sink): templates,
billing defaults, users and API keys through the same app/ functions as their JSON routes, the
API's role rules page by page, CSRF and Origin refusals with nothing changed, another firm's ids
404, a masked secret kept, an API key shown once."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from api.console import CSRF_FIELD
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from store import partners, templates
from store.pool import Pool
from tests.console_helpers import EVIL, as_user, assert_strict, csrf_of, fresh_ip_limit, sign_in_as
from tests.factories import Tenant, make_tenant

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too

BANK_APP = {
    "code": "bankfeed",
    "name": "Bank feed",
    "kind": "automation",
    "settings": [
        {"name": "account_id", "type": "string", "required": True},
        {"name": "api_token", "type": "string", "required": True, "secret": True},
    ],
}
PLAN = {"code": "essentials", "name": "Essentials", "add_ons": [{"code": "ocr", "name": "OCR"}]}
SECRET = "tok-7f3c9a-very-secret"
S = "/console/settings"


async def _member(pool: Pool, tenant: Tenant, role: Role) -> tuple[partners.UserRow, str]:
    """A user of the firm with this role (the administrator is the tenant's own) and an API key."""
    if role is Role.administrator:
        return tenant.admin, tenant.key
    user = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email=f"{role.value}-{uuid.uuid4().hex[:6]}@example.com",
        name=f"{role.value} user",
        role=role,
        language="en",
    )
    assert user is not None
    _, key = await partners.create_key(
        pool, partner_id=tenant.partner.id, user_id=user.id, name="test"
    )
    return user, key


async def _signed_in(
    http: httpx.AsyncClient, smtp_sink: SmtpSink, email: str
) -> tuple[dict[str, str], str]:
    """(the session's headers, its CSRF token)."""
    cookie, _ = await sign_in_as(http, smtp_sink, email)
    page = await http.get(S, headers=as_user(cookie))
    assert page.status_code == 200, page.text
    return as_user(cookie), csrf_of(page)


async def _catalog(http: httpx.AsyncClient, tenant: Tenant) -> None:
    assert (await http.post("/v1/plans", json=PLAN, headers=tenant.auth)).status_code == 201
    made = await http.post("/v1/integrations", json=BANK_APP, headers=tenant.auth)
    assert made.status_code == 201, made.text


async def _default_id(pool: Pool, tenant: Tenant) -> uuid.UUID:
    row = await templates.get_default(pool, partner_id=tenant.partner.id)
    assert row is not None
    return row.id


def _template_form(name: str, **extra: str) -> dict[str, str]:
    return {"name": name, "description": "", "plan": "", "payer": "", **extra}


@pytest.mark.parametrize("role", list(Role))
async def test_settings_pages_follow_the_apis_role_rules(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, pool: Pool, tenant: Tenant, role: Role
) -> None:
    """Each settings page and form lets in exactly the roles its JSON route lets in: templates
    and billing read by all, changed by administrators and client managers; users and API keys
    administrators only. A refused form changes nothing."""
    http = api_server
    user, key = await _member(pool, tenant, role)
    json_auth = {"Authorization": f"Bearer {key}"}
    headers, token = await _signed_in(http, smtp_sink, user.email)
    default = await _default_id(pool, tenant)
    other = await templates.create(
        pool,
        partner_id=tenant.partner.id,
        name="Spare",
        description="",
        body={},
        make_default=False,
    )
    target = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email=f"t-{uuid.uuid4().hex[:6]}@example.com",
        name="Target",
        role=Role.accountant,
        language="fr",
    )
    assert target is not None
    target_key, _ = await partners.create_key(
        pool, partner_id=tenant.partner.id, user_id=tenant.admin.id, name="old"
    )
    configurer = role in (Role.administrator, Role.client_manager)
    admin = role is Role.administrator

    # (method, console path, form, allowed, the JSON route that decides: method, path, body)
    cases: list[tuple[str, str, dict[str, str], bool, tuple[str, str, Any]]] = [
        ("GET", S, {}, True, ("GET", "/v1/me", None)),
        ("GET", f"{S}/templates", {}, True, ("GET", "/v1/templates", None)),
        (
            "GET",
            f"{S}/templates/new",
            {},
            configurer,
            ("POST", "/v1/templates", {"name": f"J{role.value}"}),
        ),
        ("GET", f"{S}/templates/{other.id}", {}, True, ("GET", f"/v1/templates/{other.id}", None)),
        (
            "POST",
            f"{S}/templates/new",
            _template_form(f"Page {role.value}"),
            configurer,
            ("POST", "/v1/templates", {"name": f"K{role.value}"}),
        ),
        (
            "POST",
            f"{S}/templates/{other.id}",
            _template_form("Spare"),
            configurer,
            ("PUT", f"/v1/templates/{other.id}", {"name": "Spare"}),
        ),
        (
            "POST",
            f"{S}/templates/{default}/default",
            {},
            configurer,
            ("POST", f"/v1/templates/{default}/set-default", None),
        ),
        ("GET", f"{S}/billing", {}, True, ("GET", "/v1/billing-defaults", None)),
        (
            "POST",
            f"{S}/billing",
            {"billing_period": "monthly", "plan": ""},
            configurer,
            ("PUT", "/v1/billing-defaults", {"billing_period": "monthly"}),
        ),
        ("GET", f"{S}/users", {}, admin, ("GET", "/v1/users", None)),
        (
            "POST",
            f"{S}/users",
            {
                "user_name": "New",
                "email": f"n-{role.value}@example.com",
                "role": "accountant",
                "language": "fr",
            },
            admin,
            ("GET", "/v1/users", None),
        ),
        (
            "POST",
            f"{S}/users/{target.id}/role",
            {"role": "client_manager"},
            admin,
            ("PATCH", f"/v1/users/{target.id}", {"role": "client_manager"}),
        ),
        ("GET", f"{S}/api-keys", {}, admin, ("GET", f"/v1/users/{tenant.admin.id}/api-keys", None)),
        (
            "POST",
            f"{S}/api-keys",
            {"key_name": "K", "user_id": str(user.id), "form_id": uuid.uuid4().hex},
            admin,
            ("GET", f"/v1/users/{tenant.admin.id}/api-keys", None),
        ),
        (
            "POST",
            f"{S}/api-keys/{target_key.id}/revoke",
            {},
            admin,
            ("GET", f"/v1/users/{tenant.admin.id}/api-keys", None),
        ),
        (
            "POST",
            f"{S}/templates/{other.id}/delete",
            {},
            configurer,
            ("GET", "/v1/templates", None)
            if configurer
            else ("DELETE", f"/v1/templates/{other.id}", None),
        ),
        (
            "POST",
            f"{S}/users/{target.id}/delete",
            {},
            admin,
            ("GET", "/v1/users", None) if admin else ("DELETE", f"/v1/users/{target.id}", None),
        ),
    ]
    template_page = await http.get(f"{S}/templates/{other.id}", headers=headers)
    # Read by all, the form's save button only for whoever may change the template.
    assert ('<button type="submit" class="primary">' in template_page.text) == configurer
    for method, path, form, allowed, (j_method, j_path, j_body) in cases:
        decided = await http.request(j_method, j_path, json=j_body, headers=json_auth)
        assert (decided.status_code != 403) == allowed, (j_method, j_path, decided.text)
        if method == "GET":
            page = await http.get(path, headers=headers)
            assert page.status_code == (200 if allowed else 403), (path, page.text)
        else:
            page = await http.post(path, data={**form, CSRF_FIELD: token}, headers=headers)
            expected = (200 if path == f"{S}/api-keys" else 303) if allowed else 403
            assert page.status_code == expected, (path, page.text)
        assert_strict(page)
    if not admin:
        kept = await partners.get_user(pool, partner_id=tenant.partner.id, user_id=target.id)
        assert kept is not None and kept.role is Role.accountant
    if not configurer:
        assert await templates.get(pool, partner_id=tenant.partner.id, template_id=other.id)


async def test_template_form_keeps_a_masked_secret_and_never_shows_it(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, pool: Pool, tenant: Tenant
) -> None:
    """The form shows the mask, never the stored secret; sent back masked, the secret stays;
    a new value typed replaces it; the page never echoes it back."""
    http = api_server
    await _catalog(http, tenant)
    made = await http.post(
        "/v1/templates",
        json={
            "name": "Bank",
            "integrations": [
                {"code": "bankfeed", "settings": {"account_id": "A1", "api_token": SECRET}}
            ],
        },
        headers=tenant.auth,
    )
    assert made.status_code == 201, made.text
    template_id = made.json()["id"]
    headers, token = await _signed_in(http, smtp_sink, tenant.admin.email)
    page = await http.get(f"{S}/templates/{template_id}", headers=headers)
    assert page.status_code == 200
    assert SECRET not in page.text and "********" in page.text
    assert re.search(r'type="password" id="int__bankfeed__api_token"', page.text)

    form = {
        **_template_form("Bank renamed", description="d"),
        "int__bankfeed": "1",
        "int__bankfeed__account_id": "A2",
        "int__bankfeed__api_token": "********",
        CSRF_FIELD: token,
    }
    saved = await http.post(f"{S}/templates/{template_id}", data=form, headers=headers)
    assert saved.status_code == 303, saved.text
    row = await templates.get(
        pool, partner_id=tenant.partner.id, template_id=uuid.UUID(template_id)
    )
    assert row is not None and row.name == "Bank renamed"
    assert row.body["integrations"][0]["settings"] == {"account_id": "A2", "api_token": SECRET}

    bad = await http.post(
        f"{S}/templates/{template_id}",
        data={**form, "name": "", "int__bankfeed__api_token": "tok-new"},
        headers=headers,
    )
    assert bad.status_code == 422
    assert "tok-new" not in bad.text and SECRET not in bad.text
    form["int__bankfeed__api_token"] = "tok-new"
    assert (
        await http.post(f"{S}/templates/{template_id}", data=form, headers=headers)
    ).status_code == 303
    row = await templates.get(
        pool, partner_id=tenant.partner.id, template_id=uuid.UUID(template_id)
    )
    assert row is not None
    assert row.body["integrations"][0]["settings"]["api_token"] == "tok-new"


async def test_template_form_errors_are_worded_in_the_users_language_keeping_what_was_typed(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, pool: Pool, tenant: Tenant
) -> None:
    """An empty name, an unknown plan and a name already used give the form back in French
    with each error by its field and the description typed kept; a double submit makes one."""
    http = api_server
    await _catalog(http, tenant)
    headers, token = await _signed_in(http, smtp_sink, tenant.admin.email)
    empty = await http.post(
        f"{S}/templates/new",
        data={**_template_form("", description="Mon texte", plan="nope"), CSRF_FIELD: token},
        headers=headers,
    )
    assert empty.status_code == 422
    assert "Saisissez le nom du modèle" in empty.text
    assert 'href="#name"' in empty.text and "Mon texte" in empty.text

    form = {**_template_form("Annuel", plan="essentials", add_ons="ocr"), CSRF_FIELD: token}
    first = await http.post(f"{S}/templates/new", data=form, headers=headers)
    again = await http.post(f"{S}/templates/new", data=form, headers=headers)
    assert first.status_code == 303 and again.status_code == 422
    assert "Un autre modèle porte déjà ce nom" in again.text
    rows, _ = await templates.list_(pool, partner_id=tenant.partner.id, limit=50, offset=0)
    assert [r.name for r in rows].count("Annuel") == 1
    made = next(r for r in rows if r.name == "Annuel")
    assert made.body["plan"] == "essentials" and made.body["add_ons"] == ["ocr"]

    unknown_plan = await http.post(
        f"{S}/templates/new",
        data={**_template_form("Autre", plan="nope"), CSRF_FIELD: token},
        headers=headers,
    )
    assert unknown_plan.status_code == 422
    assert "Choisissez une des formules du cabinet" in unknown_plan.text


async def test_default_template_changes_and_goes_only_with_another_in_its_place(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, pool: Pool, tenant: Tenant
) -> None:
    """Set default leaves exactly one default; deleting the default without a successor is
    refused with nothing deleted; with one it goes and the successor is the default."""
    http = api_server
    headers, token = await _signed_in(http, smtp_sink, tenant.admin.email)
    first = await _default_id(pool, tenant)
    second = await templates.create(
        pool,
        partner_id=tenant.partner.id,
        name="Second",
        description="",
        body={},
        make_default=False,
    )
    done = await http.post(
        f"{S}/templates/{second.id}/default", data={CSRF_FIELD: token}, headers=headers
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?done=default_set")
    assert await _default_id(pool, tenant) == second.id
    listing = (await http.get("/v1/templates", headers=tenant.auth)).json()["items"]
    assert [t["is_default"] for t in listing].count(True) == 1

    refused = await http.post(
        f"{S}/templates/{second.id}/delete", data={CSRF_FIELD: token}, headers=headers
    )
    assert refused.status_code == 409
    assert await templates.get(pool, partner_id=tenant.partner.id, template_id=second.id)
    gone = await http.post(
        f"{S}/templates/{second.id}/delete",
        data={CSRF_FIELD: token, "new_default": str(first)},
        headers=headers,
    )
    assert gone.status_code == 303
    assert await templates.get(pool, partner_id=tenant.partner.id, template_id=second.id) is None
    # Sent again (a double click): the list says it is gone, and the new default stays.
    twice = await http.post(
        f"{S}/templates/{second.id}/delete",
        data={CSRF_FIELD: token, "new_default": str(first)},
        headers=headers,
    )
    assert twice.status_code == 404 and "déjà retiré" in twice.text
    assert await _default_id(pool, tenant) == first


async def test_billing_defaults_form_saves_and_refuses_an_unknown_plan(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Saved from the form, the JSON API reads the same defaults; an unknown plan gives the
    form back with its error and nothing saved."""
    http = api_server
    await _catalog(http, tenant)
    headers, token = await _signed_in(http, smtp_sink, tenant.admin.email)
    form = {
        "pay_for_new_clients": "1",
        "billing_period": "annual",
        "plan": "essentials",
        "add_ons": "ocr",
        "pricing_acknowledged": "1",
        CSRF_FIELD: token,
    }
    saved = await http.post(f"{S}/billing", data=form, headers=headers)
    assert saved.status_code == 303, saved.text
    read = (await http.get("/v1/billing-defaults", headers=tenant.auth)).json()
    assert read == {
        "pay_for_new_clients": True,
        "billing_period": "annual",
        "plan": "essentials",
        "add_ons": ["ocr"],
    }
    bad = await http.post(f"{S}/billing", data={**form, "plan": "nope"}, headers=headers)
    assert bad.status_code == 422 and 'href="#plan"' in bad.text
    assert (await http.get("/v1/billing-defaults", headers=tenant.auth)).json() == read


async def test_api_key_is_shown_once_on_the_answer_made_once_and_never_shown_again(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, pool: Pool, tenant: Tenant
) -> None:
    """The new key is on the POST's own answer (no redirect, not cached), works, is on no later
    page; the form sent twice makes one key; revoked from the page it stops working."""
    http = api_server
    headers, token = await _signed_in(http, smtp_sink, tenant.admin.email)
    form = {
        "key_name": "Import",
        "user_id": str(tenant.admin.id),
        "form_id": uuid.uuid4().hex,
        CSRF_FIELD: token,
    }
    made = await http.post(f"{S}/api-keys", data=form, headers=headers)
    assert made.status_code == 200 and "location" not in made.headers
    assert made.headers["cache-control"] == "no-store"
    key = re.search(r'id="new_key" value="([^"]+)"', made.text)
    assert key is not None
    auth = {"Authorization": f"Bearer {key.group(1)}"}
    assert (await http.get("/v1/me", headers=auth)).status_code == 200
    # The same form sent again (a double click, a reload) makes no second key and shows none.
    again = await http.post(f"{S}/api-keys", data=form, headers=headers)
    assert again.status_code == 409 and again.headers["cache-control"] == "no-store"
    assert 'id="new_key"' not in again.text and key.group(1) not in again.text
    assert [k.name for k in await partners.list_keys(pool, partner_id=tenant.partner.id)].count(
        "Import"
    ) == 1
    later = await http.get(f"{S}/api-keys", headers=headers)
    assert key.group(1) not in later.text and "Import" in later.text

    row = next(
        k
        for k in await partners.list_keys(pool, partner_id=tenant.partner.id)
        if k.name == "Import"
    )
    revoked = await http.post(
        f"{S}/api-keys/{row.id}/revoke", data={CSRF_FIELD: token}, headers=headers
    )
    assert revoked.status_code == 303
    assert (await http.get("/v1/me", headers=auth)).status_code == 401


async def test_users_page_adds_changes_and_never_loses_the_last_administrator(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, pool: Pool, tenant: Tenant
) -> None:
    """A user added from the page can sign in; a bad address keeps what was typed; the only
    administrator cannot demote or remove themself (nothing changed, said in French)."""
    http = api_server
    headers, token = await _signed_in(http, smtp_sink, tenant.admin.email)
    bad = await http.post(
        f"{S}/users",
        data={
            "user_name": "Zoé",
            "email": "not-an-address",
            "role": "accountant",
            "language": "fr",
            CSRF_FIELD: token,
        },
        headers=headers,
    )
    assert bad.status_code == 422 and "not-an-address" in bad.text and "Zoé" in bad.text
    email = f"zoe-{uuid.uuid4().hex[:6]}@example.com"
    form = {
        "user_name": "Zoé",
        "email": email,
        "role": "client_manager",
        "language": "nl",
        CSRF_FIELD: token,
    }
    added = await http.post(f"{S}/users", data=form, headers=headers)
    twice = await http.post(f"{S}/users", data=form, headers=headers)
    assert added.status_code == 303 and twice.status_code == 422
    users, _ = await partners.list_users(pool, partner_id=tenant.partner.id, limit=50, offset=0)
    assert [u.email for u in users].count(email) == 1
    zoe = next(u for u in users if u.email == email)
    assert zoe.role is Role.client_manager and zoe.language == "nl"

    demote = await http.post(
        f"{S}/users/{tenant.admin.id}/role",
        data={"role": "accountant", CSRF_FIELD: token},
        headers=headers,
    )
    assert demote.status_code == 409
    assert "Le cabinet garde au moins un administrateur" in demote.text
    me = await partners.get_user(pool, partner_id=tenant.partner.id, user_id=tenant.admin.id)
    assert me is not None and me.role is Role.administrator
    removed = await http.post(
        f"{S}/users/{zoe.id}/delete", data={CSRF_FIELD: token}, headers=headers
    )
    assert removed.status_code == 303
    assert await partners.get_user(pool, partner_id=tenant.partner.id, user_id=zoe.id) is None
    again = await http.post(f"{S}/users/{zoe.id}/delete", data={CSRF_FIELD: token}, headers=headers)
    assert again.status_code == 404 and "déjà retiré" in again.text


async def test_settings_forms_without_their_token_or_from_elsewhere_change_nothing(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, pool: Pool, tenant: Tenant
) -> None:
    """Every settings form refuses a missing or wrong CSRF token and another origin's post."""
    http = api_server
    headers, token = await _signed_in(http, smtp_sink, tenant.admin.email)
    default = await _default_id(pool, tenant)
    key_row, _ = await partners.create_key(
        pool, partner_id=tenant.partner.id, user_id=tenant.admin.id, name="keep"
    )
    before = await http.get("/v1/billing-defaults", headers=tenant.auth)
    forms = [
        (f"{S}/templates/new", _template_form("Forged")),
        (f"{S}/templates/{default}", _template_form("Forged")),
        (f"{S}/templates/{default}/delete", {}),
        (f"{S}/billing", {"billing_period": "annual", "pay_for_new_clients": "1"}),
        (
            f"{S}/users",
            {"user_name": "F", "email": "f@example.com", "role": "administrator", "language": "fr"},
        ),
        (f"{S}/users/{tenant.admin.id}/role", {"role": "accountant"}),
        (f"{S}/api-keys", {"key_name": "forged", "user_id": str(tenant.admin.id)}),
        (f"{S}/api-keys/{key_row.id}/revoke", {}),
    ]
    for path, data in forms:
        missing = await http.post(path, data=data, headers=headers)
        wrong = await http.post(path, data={**data, CSRF_FIELD: "x" * 43}, headers=headers)
        crossed = await http.post(
            path, data={**data, CSRF_FIELD: token}, headers={**headers, "Origin": EVIL}
        )
        assert [r.status_code for r in (missing, wrong, crossed)] == [403] * 3, path
        assert "forged" not in missing.text
    rows, total = await templates.list_(pool, partner_id=tenant.partner.id, limit=50, offset=0)
    assert total == 1 and rows[0].name != "Forged"
    assert (await http.get("/v1/billing-defaults", headers=tenant.auth)).json() == before.json()
    _, users = await partners.list_users(pool, partner_id=tenant.partner.id, limit=50, offset=0)
    assert users == 1
    keys = await partners.list_keys(pool, partner_id=tenant.partner.id)
    assert all(k.revoked_at is None for k in keys) and "forged" not in [k.name for k in keys]


async def test_settings_pages_for_another_firms_ids_are_not_found(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, pool: Pool, tenant: Tenant
) -> None:
    """Another firm's template, user and key are 404 on every page and form, untouched."""
    http = api_server
    other = await make_tenant(pool, "Cabinet Autre")
    their_template = await _default_id(pool, other)
    their_key, _ = await partners.create_key(
        pool, partner_id=other.partner.id, user_id=other.admin.id, name="theirs"
    )
    headers, token = await _signed_in(http, smtp_sink, tenant.admin.email)
    assert (await http.get(f"{S}/templates/{their_template}", headers=headers)).status_code == 404
    assert (await http.get(f"{S}/templates/not-an-id", headers=headers)).status_code == 404
    posts = [
        (f"{S}/templates/{their_template}", _template_form("Mine now")),
        (f"{S}/templates/{their_template}/default", {}),
        (f"{S}/templates/{their_template}/delete", {}),
        (f"{S}/users/{other.admin.id}/role", {"role": "accountant"}),
        (f"{S}/users/{other.admin.id}/delete", {}),
        (f"{S}/api-keys/{their_key.id}/revoke", {}),
    ]
    for path, data in posts:
        answer = await http.post(path, data={**data, CSRF_FIELD: token}, headers=headers)
        assert answer.status_code == 404, (path, answer.text)
    given = await http.post(
        f"{S}/api-keys",
        data={
            "key_name": "x",
            "user_id": str(other.admin.id),
            "form_id": uuid.uuid4().hex,
            CSRF_FIELD: token,
        },
        headers=headers,
    )
    assert given.status_code == 422
    assert (await http.get("/v1/me", headers=other.auth)).status_code == 200
    kept = await templates.get(pool, partner_id=other.partner.id, template_id=their_template)
    assert kept is not None and kept.name != "Mine now"
