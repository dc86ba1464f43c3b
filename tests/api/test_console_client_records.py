"""The client page's company record, national numbers and documents tree over the real stack
(uvicorn, PostgreSQL, SMTP sink for the sign-in, the registry stand-in): each form does what its
JSON route does (the same app/ function), forged forms change nothing, roles are the API's, and
another firm's client is 404."""

from __future__ import annotations

import uuid
from datetime import date
from html import unescape

import httpx

from api.console import CSRF_FIELD
from api.console.texts import TEXTS
from devstack.registry_standin import RegistryStandin
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from store import clients, folders, partners
from store.pool import Pool
from tests.api.client_records_helpers import (
    NATIONAL_NUMBER,
    PARTNER_NATIONAL_NUMBER,
    created_client,
    danone_as_registered,
)
from tests.console_helpers import (
    _refused,
    as_user,
    assert_strict,
    csrf_of,
    fresh_ip_limit,
    sign_in_as,
)
from tests.factories import Tenant, make_client, make_tenant
from tests.workflow_helpers import onboarded_client

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too

FR = TEXTS["fr"]


async def _member(
    http: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant, role: Role
) -> str:
    user = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email=f"{role.value}-{uuid.uuid4().hex[:6]}@example.com",
        name=f"Ana {role.value}",
        role=role,
    )
    assert user is not None
    cookie, _ = await sign_in_as(http, smtp_sink, user.email)
    return cookie


async def _page(http: httpx.AsyncClient, cookie: str, client_id: uuid.UUID) -> httpx.Response:
    page = await http.get(f"/console/clients/{client_id}", headers=as_user(cookie))
    assert page.status_code == 200, page.text
    assert_strict(page)
    return page


async def test_company_corrected_and_looked_up_again_from_the_client_page(
    api_server: httpx.AsyncClient,
    pool: Pool,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    registry: RegistryStandin,
) -> None:
    """The page shows the registry's record and today's fields; forged forms change nothing; a
    correction is saved and listed with who made it; a re-lookup shows what changed at the
    registry, and its Apply button corrects the client from it."""
    client_id = await created_client(
        pool, tenant, company=danone_as_registered(name="DANONE ANCIEN NOM")
    )
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await _page(api_server, cookie, client_id)
    text = unescape(page.text)
    assert FR["cr_record"] in text and "recherche-entreprises" in text
    assert FR["cr_no_corrections"] in text
    token = csrf_of(page)
    action = f"/console/clients/{client_id}/company/corrections"
    await _refused(api_server, cookie, token, action, {"address": "1 rue X"})
    await _refused(api_server, cookie, token, f"/console/clients/{client_id}/company/lookup", {})
    assert registry.stats.total_requests == 0

    saved = await api_server.post(
        action,
        data={
            "name": "DANONE ANCIEN NOM",
            "address": "1 rue X, Paris",
            "legal_form": "5599",
            CSRF_FIELD: token,
        },
        headers=as_user(cookie),
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"].endswith("?done=company_corrected")
    shown = unescape(
        (await api_server.get(saved.headers["location"], headers=as_user(cookie))).text
    )
    assert FR["done_company_corrected"] in shown and "1 rue X, Paris" in shown
    assert tenant.admin.name in shown

    looked = await api_server.post(
        f"/console/clients/{client_id}/company/lookup",
        data={CSRF_FIELD: token},
        headers=as_user(cookie),
    )
    assert looked.status_code == 303, looked.text
    page = await api_server.get(looked.headers["location"], headers=as_user(cookie))
    assert 'id="relookup-changes"' in page.text
    assert FR["cr_apply"].format(field=FR["cr_field_name"]) in unescape(page.text)
    applied = await api_server.post(
        action,
        data={"name": "DANONE", "from_registry": "1", CSRF_FIELD: token},
        headers=as_user(cookie),
    )
    assert applied.status_code == 303
    row = await clients.get(pool, client_id=client_id)
    assert row is not None and row.name == "DANONE"
    origins = await pool.fetch(
        "SELECT field, origin FROM client_company_corrections WHERE client_id = $1 ORDER BY id",
        client_id,
    )
    assert [(r["field"], r["origin"]) for r in origins] == [
        ("address", "person"),
        ("name", "registry"),
    ]


async def test_company_part_for_an_accountant_and_a_client_without_record(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """An old client says "no record kept"; an accountant sees no form or button, and a
    correction sent anyway is refused with nothing changed."""
    _, client_id = await make_client(pool, tenant, name="Ancien client")
    cookie = await _member(api_server, pool, smtp_sink, tenant, Role.accountant)
    page = await _page(api_server, cookie, client_id)
    text = unescape(page.text)
    assert FR["cr_no_record"] in text
    assert FR["cr_save_corrections"] not in text and FR["cr_relookup"] not in text
    refused = await api_server.post(
        f"/console/clients/{client_id}/company/corrections",
        data={"name": "Autre", CSRF_FIELD: csrf_of(page)},
        headers=as_user(cookie),
    )
    assert refused.status_code == 403
    row = await clients.get(pool, client_id=client_id)
    assert row is not None and row.name == "Ancien client"


async def test_national_numbers_on_the_client_page_per_role(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """An administrator sees both numbers whole and changes them (a wrong check digit refused in
    French next to its field); a client manager sees the last 3 digits, no form, and a change
    sent anyway is refused with nothing changed."""
    client_id = await created_client(pool, tenant, company=danone_as_registered())
    manager = await _member(api_server, pool, smtp_sink, tenant, Role.client_manager)
    page = await _page(api_server, manager, client_id)
    assert NATIONAL_NUMBER not in page.text and PARTNER_NATIONAL_NUMBER not in page.text
    assert "\u2022" * 8 + NATIONAL_NUMBER[-3:] in page.text
    assert FR["nn_save"] not in unescape(page.text)
    refused = await api_server.post(
        f"/console/clients/{client_id}/national-numbers",
        data={"national_number": "", "partner_national_number": "", CSRF_FIELD: csrf_of(page)},
        headers=as_user(manager),
    )
    assert refused.status_code == 403
    assert await clients.national_numbers(
        pool, partner_id=tenant.partner.id, client_id=client_id
    ) == (NATIONAL_NUMBER, PARTNER_NATIONAL_NUMBER)

    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await _page(api_server, cookie, client_id)
    assert NATIONAL_NUMBER in page.text and PARTNER_NATIONAL_NUMBER in page.text
    token = csrf_of(page)
    action = f"/console/clients/{client_id}/national-numbers"
    data = {"national_number": "90010100123", "partner_national_number": ""}
    await _refused(api_server, cookie, token, action, data)
    wrong = await api_server.post(
        action,
        data={**data, "national_number": "90010100124", CSRF_FIELD: token},
        headers=as_user(cookie),
    )
    assert wrong.status_code == 422
    assert FR["cs_error_national_number"] in unescape(wrong.text)
    assert 'href="#nn_national_number"' in wrong.text
    saved = await api_server.post(action, data={**data, CSRF_FIELD: token}, headers=as_user(cookie))
    assert saved.status_code == 303, saved.text
    assert await clients.national_numbers(
        pool, partner_id=tenant.partner.id, client_id=client_id
    ) == ("90010100123", None)


async def test_documents_page_lists_folders_by_fiscal_year_paged(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """The client page counts each year's month folders and links to the documents page, which
    shows two years a page, newest first, with links to the other pages; another firm's
    client's documents are 404."""
    client_id = await onboarded_client(pool, tenant)
    for start in (date(2023, 1, 1), date(2024, 1, 1)):
        assert await folders.create_fiscal_year(
            pool, client_id=client_id, starts_on=start, ends_on=start.replace(month=12, day=31)
        )
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await _page(api_server, cookie, client_id)
    assert FR["dt_months"].format(present="12", expected="12") in unescape(page.text)
    assert f'/console/clients/{client_id}/documents"' in page.text
    url = f"/console/clients/{client_id}/documents"
    first = await api_server.get(url, headers=as_user(cookie))
    assert first.status_code == 200
    assert_strict(first)
    text = unescape(first.text)
    assert "2025-01 Janvier" in text and "2025-12 Décembre" in text
    assert FR["page_of"].format(page="1", pages="2") in text
    assert f"{url}?page=2" in first.text
    second = unescape((await api_server.get(f"{url}?page=2", headers=as_user(cookie))).text)
    assert "2023" in second and "2025-01 Janvier" not in second
    assert FR["dt_months"].format(present="0", expected="12") in second
    other = await make_tenant(pool, "Autre cabinet")
    stranger = await partners.create_user(
        pool,
        partner_id=other.partner.id,
        email="x@autre.example",
        name="X",
        role=Role.administrator,
    )
    assert stranger is not None
    foreign, _ = await sign_in_as(api_server, smtp_sink, stranger.email)
    assert (await api_server.get(url, headers=as_user(foreign))).status_code == 404
    assert (await api_server.get(f"{url}?page=abc", headers=as_user(cookie))).status_code == 200
