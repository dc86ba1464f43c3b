"""Prices and who pays on the console over the real stack: the monthly cost on the client page
and in the new-client preview, and the box confirming the firm pays on the template, billing
and subscription forms (the API's rule, app/pricing.py), its error by the field in the user's
language with what was typed kept."""

from __future__ import annotations

from html import unescape

import httpx

from api.console import CSRF_FIELD
from api.console.texts import TEXTS
from app import pricing as app_pricing
from devstack.smtp_sink import SmtpSink
from domain.money import Price
from store import pricing, templates
from store.pool import Pool
from tests.console_helpers import (
    NEW,
    as_user,
    assert_strict,
    csrf_of,
    filled,
    fresh_ip_limit,
    open_form,
    ready_client,
    sign_in_as,
)
from tests.console_prices_helpers import PLANS
from tests.factories import Tenant

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too

FR = TEXTS["fr"]


async def _priced(http: httpx.AsyncClient, tenant: Tenant) -> None:
    for plan in PLANS:
        made = await http.post("/v1/plans", json=plan, headers=tenant.auth)
        assert made.status_code == 201, made.text


async def test_client_page_shows_the_monthly_cost_with_the_firm_s_rates(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """The client page says what the subscription costs a month, the firm's rate applied."""
    await _priced(api_server, tenant)
    await app_pricing.set_rate(
        pool,
        partner_id=tenant.partner.id,
        plan="essentials",
        add_on="ocr",
        price=Price(monthly_cents=100, annual_cents=1000),
    )
    client_id = await ready_client(pool, tenant)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get(f"/console/clients/{client_id}", headers=as_user(cookie))
    assert page.status_code == 200, page.text
    assert_strict(page)
    text = unescape(page.text)
    assert FR["pr_cost_monthly"].format(month="30,00 €") in text
    assert FR["pr_cost_rates"] in text and FR["pr_confirm"] in text


async def test_subscription_form_where_the_firm_pays_needs_the_box_ticked(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Changing a client so the firm pays without ticking the box: the page again (409) with
    the error by the box in French, the plan typed kept, nothing recorded; ticked, it is."""
    await _priced(api_server, tenant)
    client_id = await ready_client(pool, tenant)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get(f"/console/clients/{client_id}", headers=as_user(cookie))
    change = {
        "plan": "premium",
        "payer": "partner",
        "billing_period": "annual",
        CSRF_FIELD: csrf_of(page),
    }
    action = f"/console/clients/{client_id}/subscription"
    refused = await api_server.post(action, data=change, headers=as_user(cookie))
    assert refused.status_code == 409, refused.text
    text = unescape(refused.text)
    assert 'href="#sub_pricing_acknowledged"' in text
    assert FR["cs_error_pricing_not_acknowledged"] in text
    assert FR["pr_cost_annual"].format(month="40,83 €", year="490,00 €") in text
    assert '<option value="premium" selected>' in text
    history = await api_server.get(
        f"/v1/clients/{client_id}/subscription/history", headers=tenant.auth
    )
    assert history.json()["total"] == 1

    done = await api_server.post(
        action, data={**change, "pricing_acknowledged": "1"}, headers=as_user(cookie)
    )
    assert done.status_code == 303, done.text
    [recorded] = await pricing.acknowledgements(
        pool, partner_id=tenant.partner.id, subject="subscription", subject_id=client_id
    )
    assert recorded.acknowledged_by == tenant.admin.id


async def test_template_and_billing_forms_where_the_firm_pays_need_the_box_ticked(
    api_server: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """A template or billing defaults making the firm pay: refused by the box in French until
    it is ticked; then the template's history holds who confirmed."""
    await _priced(api_server, tenant)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    settings = await api_server.get("/console/settings", headers=as_user(cookie))
    token = csrf_of(settings)
    form = {
        "name": "Le cabinet paie",
        "description": "",
        "plan": "essentials",
        "add_ons": "ocr",
        "payer": "partner",
        CSRF_FIELD: token,
    }
    refused = await api_server.post(
        "/console/settings/templates/new", data=form, headers=as_user(cookie)
    )
    assert refused.status_code == 422, refused.text
    text = unescape(refused.text)
    assert 'href="#pricing_acknowledged"' in text
    assert FR["st_error_pricing_acknowledged"] in text and "Le cabinet paie" in text
    saved = await api_server.post(
        "/console/settings/templates/new",
        data={**form, "pricing_acknowledged": "1"},
        headers=as_user(cookie),
    )
    assert saved.status_code == 303, saved.text
    rows, _ = await templates.list_(pool, partner_id=tenant.partner.id, limit=50, offset=0)
    made = next(r for r in rows if r.name == "Le cabinet paie")
    history, _ = await templates.history(
        pool, partner_id=tenant.partner.id, template_id=made.id, limit=10, offset=0
    )
    assert [h.acknowledged_by for h in history] == [tenant.admin.id]

    billing = {
        "pay_for_new_clients": "1",
        "billing_period": "monthly",
        "plan": "essentials",
        CSRF_FIELD: token,
    }
    refused = await api_server.post(
        "/console/settings/billing", data=billing, headers=as_user(cookie)
    )
    assert refused.status_code == 409, refused.text
    assert FR["st_error_pricing_acknowledged"] in unescape(refused.text)
    saved = await api_server.post(
        "/console/settings/billing",
        data={**billing, "pricing_acknowledged": "1"},
        headers=as_user(cookie),
    )
    assert saved.status_code == 303, saved.text


async def test_new_client_preview_shows_the_monthly_cost(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """The New client page's setup preview says what the client would cost a month, annual
    billing as its monthly equivalent."""
    await _priced(api_server, tenant)
    headers, page = await open_form(api_server, smtp_sink, tenant)
    form = filled(
        page, override_plan="essentials", override_billing_period="annual", action="preview"
    )
    answer = await api_server.post(NEW, data=form, headers=headers)
    assert answer.status_code == 200, answer.text
    preview = unescape(answer.text.split('class="card setup-preview"')[1].split("</section>")[0])
    assert FR["pr_cost_annual"].format(month="24,17 €", year="290,00 €") in preview
