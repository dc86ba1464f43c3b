"""The console's new-client form over the real stack (uvicorn, PostgreSQL, SMTP sink, Temporal
worker): it starts an onboarding by the same rules as POST /v1/onboardings, gives the form back
with each field's error and what was typed, and starts one onboarding however often it is sent."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from markupsafe import escape
from temporalio.worker import Worker

from api.console.texts import TEXTS
from app import sign_in
from devstack import kbo_data
from devstack.registry_standin import RegistryStandin
from devstack.smtp_sink import SmtpSink
from store import kbo, limits, templates
from store.pool import Pool
from tests.api_helpers import hold_every_place
from tests.console_helpers import (
    EVIL,
    NEW,
    _until_invitation,
    assert_strict,
    filled,
    nonce_of,
    open_form,
)
from tests.factories import Tenant, make_tenant


@pytest.fixture(autouse=True)
async def fresh_ip_limit(pool: Pool) -> AsyncIterator[None]:
    """Every test here signs in from 127.0.0.1: each starts with that IP's sign-in budget full."""
    key = f"console-sign-in:ip:{sign_in.digest('127.0.0.1')}"
    await limits.forget(pool, key=key)
    yield
    await limits.forget(pool, key=key)


def shown(text: str) -> str:
    """A text as the page shows it (escaped as the templates escape)."""
    return str(escape(text))


def linked(text: str, field: str, message: str) -> bool:
    """The error summary links to the field with its message."""
    return f'<a href="#{field}">{shown(message)}</a>' in text


def lang_of(page: httpx.Response) -> dict[str, str]:
    match = re.search(r'<html lang="([a-z]{2})">', page.text)
    assert match
    return TEXTS[match.group(1)]


def value_of(page: httpx.Response, name: str) -> str:
    match = re.search(rf'id="{name}" name="{name}" value="([^"]*)"', page.text)
    assert match, name
    return match.group(1)


async def started_count(http: httpx.AsyncClient, tenant: Tenant) -> int:
    listed = await http.get("/v1/onboardings", headers=tenant.auth)
    assert listed.status_code == 200, listed.text
    total: int = listed.json()["total"]
    return total


async def test_new_client_form_starts_an_onboarding_and_opens_its_page(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """The list links to the form; the form (default template chosen, end of year proposed)
    starts the onboarding as filled in (notifications kept off) and leads (303) to the new
    client's page."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    assert_strict(page)
    listing = await api_server.get("/console/clients", headers=headers)
    assert f'href="{NEW}"' in listing.text
    for name in ("first_name", "last_name", "email", "siret", "fy_start", "scheduled_at"):
        assert f'<label for="{name}">' in page.text, name
    assert value_of(page, "fy_end").endswith("-12-31")
    sent = await api_server.post(NEW, data=filled(page, notifications="off"), headers=headers)
    assert sent.status_code == 303, sent.text
    match = re.fullmatch(r"/console/onboardings/([0-9a-f-]{36})", sent.headers["location"])
    assert match, sent.headers["location"]
    onboarding_id = match.group(1)
    # "Keep them off after setup": the invitation waits for the notifications to be on.
    view = await _until_invitation(api_server, tenant, onboarding_id, "muted")
    assert view["notifications_muted"] is True and view["invitation"]["mode"] == "manual"
    page_of_client = await api_server.get(sent.headers["location"], headers=headers)
    if page_of_client.status_code == 303:  # the client exists by now: its own page
        page_of_client = await api_server.get(page_of_client.headers["location"], headers=headers)
    assert page_of_client.status_code == 200 and "Garnier" in page_of_client.text
    assert await started_count(api_server, tenant) == 1


async def test_new_client_form_with_bad_siret_and_no_email_comes_back_with_the_errors(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """An invalid SIRET and a missing e-mail: the form back (422) with each message next to its
    field and in the summary linking to it, what was typed kept, nothing started."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    texts = lang_of(page)
    answer = await api_server.post(
        NEW,
        data=filled(page, email="", siret="552 032 534 00647", fy_end=""),
        headers=headers,
    )
    assert answer.status_code == 422, answer.text
    assert_strict(answer)
    summary = answer.text.split('class="error-summary"')[1].split("</div>")[0]
    assert re.search(r'href="#email">[^<]*' + re.escape(shown(texts["nc_required_email"])), summary)
    assert re.search(
        r'href="#siret">[^<]*' + re.escape(shown(texts["nc_error_siret_checksum"])), summary
    )
    assert summary.index("#email") < summary.index("#siret")  # in the page's order
    assert 'id="email-error"' in answer.text and 'id="siret-error"' in answer.text
    assert 'aria-describedby="siret-hint siret-error"' in answer.text
    assert value_of(answer, "siret") == "552 032 534 00647"
    assert value_of(answer, "first_name") == "Inès"
    assert value_of(answer, "fy_end") == "2026-12-31"  # the proposed end, filled in
    assert nonce_of(answer) == nonce_of(page)
    assert await started_count(api_server, tenant) == 0


async def test_new_client_form_sent_twice_starts_one_onboarding(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """The same form sent twice at once (a double click), then again: one onboarding."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    form = filled(page)
    first, second = await asyncio.gather(
        api_server.post(NEW, data=form, headers=headers),
        api_server.post(NEW, data=form, headers=headers),
    )
    third = await api_server.post(NEW, data=form, headers=headers)  # a reload, later
    assert third.headers["location"] == first.headers["location"]
    assert first.status_code == second.status_code == 303, (first.text, second.text)
    assert first.headers["location"] == second.headers["location"]
    assert await started_count(api_server, tenant) == 1
    # A new form is a new client.
    again = await api_server.get(NEW, headers=headers)
    assert nonce_of(again) != form["form_id"]


async def test_new_client_form_changed_after_sending_gets_a_fresh_form(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """The form sent, then changed (back button) and sent again: refused with a fresh nonce,
    nothing more started; sent once more, it starts the second client."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    first = await api_server.post(NEW, data=filled(page), headers=headers)
    assert first.status_code == 303
    changed = filled(page, first_name="Paul")
    refused = await api_server.post(NEW, data=changed, headers=headers)
    assert refused.status_code == 409, refused.text
    assert shown(lang_of(refused)["nc_already_sent"]) in refused.text
    assert value_of(refused, "first_name") == "Paul"
    assert await started_count(api_server, tenant) == 1
    resent = await api_server.post(
        NEW, data={**changed, "form_id": nonce_of(refused)}, headers=headers
    )
    assert resent.status_code == 303 and resent.headers["location"] != first.headers["location"]
    assert await started_count(api_server, tenant) == 2


async def test_new_client_form_without_its_csrf_token_starts_nothing(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """No token, a wrong one, another origin or no nonce: refused (403), nothing started."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    form = filled(page)
    no_token = {k: v for k, v in form.items() if k != "csrf_token"}
    no_nonce = {k: v for k, v in form.items() if k != "form_id"}
    attempts: list[tuple[dict[str, str], dict[str, str]]] = [
        (no_token, headers),
        ({**form, "csrf_token": "x" * 43}, headers),
        (form, {**headers, "Origin": EVIL}),
        (no_nonce, headers),
    ]
    for data, sent_headers in attempts:
        answer = await api_server.post(NEW, data=data, headers=sent_headers)
        assert answer.status_code == 403, answer.text
    signed_out = await api_server.post(NEW, data=form)
    assert signed_out.status_code == 303 and "/console/sign-in" in signed_out.headers["location"]
    assert await started_count(api_server, tenant) == 0


async def test_new_client_form_with_another_firms_template_is_refused(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """Another firm's template id is unknown here: the form back with the template's error."""
    other = await make_tenant(pool, "Another firm")
    theirs = await templates.get_default(pool, partner_id=other.partner.id)
    assert theirs is not None
    headers, page = await open_form(api_server, smtp_sink, tenant)
    answer = await api_server.post(
        NEW, data=filled(page, template_id=str(theirs.id)), headers=headers
    )
    assert answer.status_code == 422, answer.text
    assert shown(lang_of(answer)["nc_error_template_id"]) in answer.text
    assert 'href="#template_id"' in answer.text
    assert str(theirs.id) not in answer.text  # not offered, not echoed
    assert await started_count(api_server, tenant) == 0
    assert await started_count(api_server, other) == 0


async def test_new_client_form_schedules_the_invitation_in_the_firms_time_zone(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """ "At a date and time" is read in Europe/Paris; without one, or in the past, the form comes
    back with that field's error."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    texts = lang_of(page)
    missing = await api_server.post(
        NEW, data=filled(page, invitation_mode="scheduled"), headers=headers
    )
    assert missing.status_code == 422
    assert re.search(
        r'href="#scheduled_at">[^<]*' + re.escape(shown(texts["nc_required_scheduled_at"])),
        missing.text,
    )
    past = await api_server.post(
        NEW,
        data=filled(page, invitation_mode="scheduled", scheduled_at="2020-01-01T09:00"),
        headers=headers,
    )
    assert past.status_code == 422 and shown(texts["error_past"]) in past.text
    assert await started_count(api_server, tenant) == 0
    local = (datetime.now(ZoneInfo("Europe/Paris")) + timedelta(days=3)).replace(
        hour=9, minute=30, second=0, microsecond=0, tzinfo=None
    )
    sent = await api_server.post(
        NEW,
        data=filled(page, invitation_mode="scheduled", scheduled_at=local.isoformat()[:16]),
        headers=headers,
    )
    assert sent.status_code == 303, sent.text
    onboarding_id = sent.headers["location"].rsplit("/", 1)[1]
    view: dict[str, Any] = await _until_invitation(api_server, tenant, onboarding_id, "scheduled")
    when = datetime.fromisoformat(view["invitation"]["scheduled_at"])
    assert when == local.replace(tzinfo=ZoneInfo("Europe/Paris"))
    assert uuid.UUID(onboarding_id)


async def _client_of(http: httpx.AsyncClient, tenant: Tenant, onboarding_id: str) -> Any:
    """The client an onboarding created, once its setup is over (its invitation waits)."""
    view = await _until_invitation(http, tenant, onboarding_id, "waiting_manual")
    client = await http.get(f"/v1/clients/{view['client_id']}", headers=tenant.auth)
    assert client.status_code == 200, client.text
    return client.json()


async def test_new_client_form_invites_the_director_typed_with_the_themes(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """A director typed in, with comma-separated themes, is the client's user the invitation is
    for, as the API's `director` makes it."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    for name in ("director_first_name", "director_last_name", "director_email", "themes"):
        assert f'<label for="{name}">' in page.text, name
    sent = await api_server.post(
        NEW,
        data=filled(
            page,
            director_first_name="Marc",
            director_last_name="Garnier",
            director_email="marc@garnier.example",
            themes=" Comptabilité, Social ,,Comptabilité",
        ),
        headers=headers,
    )
    assert sent.status_code == 303, sent.text
    client = await _client_of(api_server, tenant, sent.headers["location"].rsplit("/", 1)[1])
    [director] = client["users"]
    assert (director["email"], director["first_name"], director["last_name"]) == (
        "marc@garnier.example",
        "Marc",
        "Garnier",
    )
    assert director["themes"] == ["Comptabilité", "Social"]


async def test_new_client_form_with_themes_only_invites_the_contact(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Themes without a director: the client contact is the director, with those themes."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    sent = await api_server.post(NEW, data=filled(page, themes="Social"), headers=headers)
    assert sent.status_code == 303, sent.text
    client = await _client_of(api_server, tenant, sent.headers["location"].rsplit("/", 1)[1])
    [director] = client["users"]
    assert (director["email"], director["first_name"], director["themes"]) == (
        "ines@garnier.example",
        "Inès",
        ["Social"],
    )


async def test_new_client_form_with_half_a_director_comes_back_with_the_missing_fields(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Only a director's e-mail (and a bad one): each missing or wrong director field is named
    next to it in the user's language, what was typed kept, nothing started."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    texts = lang_of(page)
    answer = await api_server.post(
        NEW, data=filled(page, director_email="marc@", themes="Social"), headers=headers
    )
    assert answer.status_code == 422, answer.text
    for name in ("director_first_name", "director_last_name"):
        assert linked(answer.text, name, texts[f"nc_required_{name}"]), name
    assert linked(answer.text, "director_email", texts["nc_error_director_email"])
    assert 'id="director_email-error"' in answer.text
    assert value_of(answer, "director_email") == "marc@"
    assert value_of(answer, "themes") == "Social"
    assert await started_count(api_server, tenant) == 0


async def test_new_client_form_keeps_the_national_numbers(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """The client's and the partner's national register numbers, typed with dots and dashes,
    are the client's, as the API stores them (11 digits)."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    for name in ("national_number", "partner_national_number"):
        assert f'<label for="{name}">' in page.text, name
    sent = await api_server.post(
        NEW,
        data=filled(page, national_number="85.07.30-033.28", partner_national_number="72031500115"),
        headers=headers,
    )
    assert sent.status_code == 303, sent.text
    client = await _client_of(api_server, tenant, sent.headers["location"].rsplit("/", 1)[1])
    row = await pool.fetchrow(
        "SELECT national_number, partner_national_number FROM clients WHERE id = $1",
        uuid.UUID(client["id"]),
    )
    assert row is not None
    assert (row["national_number"], row["partner_national_number"]) == (
        "85073003328",
        "72031500115",
    )


async def test_new_client_form_with_bad_national_numbers_says_so_next_to_each(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """A wrong check digit and a short number: each field's own message in the user's
    language, next to it and in the summary, what was typed kept, nothing started."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    texts = lang_of(page)
    answer = await api_server.post(
        NEW,
        data=filled(page, national_number="85.07.30-033.29", partner_national_number="1234"),
        headers=headers,
    )
    assert answer.status_code == 422, answer.text
    assert linked(answer.text, "national_number", texts["nc_error_national_number_checksum"])
    assert linked(answer.text, "partner_national_number", texts["nc_error_partner_national_number"])
    assert 'aria-describedby="national_number-hint national_number-error"' in answer.text
    assert 'id="partner_national_number-error"' in answer.text
    assert value_of(answer, "national_number") == "85.07.30-033.29"
    assert value_of(answer, "partner_national_number") == "1234"
    assert await started_count(api_server, tenant) == 0


async def test_new_client_form_previews_the_chosen_templates_setup_and_starts_nothing(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """ "Preview the setup" gives the same form back (typed values and nonce kept) with the chosen
    template's effective setup as POST /v1/setup-previews computes it: plan, add-ons, payer,
    period, integrations with the secret masked, collaborators by name; nothing started."""
    vault = {
        "code": "vault",
        "name": "Vault",
        "kind": "redirection",
        "settings": [
            {"name": "token", "type": "string", "required": False, "secret": True},
            {"name": "label", "type": "string", "required": False},
        ],
    }
    made = await api_server.post("/v1/integrations", json=vault, headers=tenant.auth)
    assert made.status_code == 201, made.text
    plan = {"code": "essentials", "name": "Essentials", "add_ons": [{"code": "ocr", "name": "OCR"}]}
    assert (await api_server.post("/v1/plans", json=plan, headers=tenant.auth)).status_code == 201
    template = await api_server.post(
        "/v1/templates",
        json={
            "name": "Sociétés <b>",
            "plan": "essentials",
            "add_ons": ["ocr"],
            "payer": "client",
            "billing_period": "annual",
            "user_ids": [str(tenant.admin.id)],
            "integrations": [
                {"code": "vault", "settings": {"token": "TOPSECRET-123", "label": "Coffre"}}
            ],
        },
        headers=tenant.auth,
    )
    assert template.status_code == 201, template.text
    template_id = template.json()["id"]
    expected = await api_server.post(
        "/v1/setup-previews", json={"template_id": template_id}, headers=tenant.auth
    )
    assert expected.status_code == 200, expected.text
    setup = expected.json()["setup"]

    headers, page = await open_form(api_server, smtp_sink, tenant)
    texts = lang_of(page)
    button = re.search(r'<button type="submit" id="preview-setup"[^>]*>', page.text)
    assert button and 'name="action" value="preview"' in button.group(0)
    assert "formnovalidate" in button.group(0)
    assert f'formaction="{NEW}#preview-title"' in button.group(0)  # opens at the preview
    form = filled(page, template_id=template_id, first_name="Paul", action="preview")
    answer = await api_server.post(NEW, data=form, headers=headers)
    assert answer.status_code == 200, answer.text
    assert_strict(answer)
    shown_preview = answer.text.split('class="card setup-preview"')[1].split("</section>")[0]
    assert shown(texts["nc_preview_title"].format(template="Sociétés <b>")) in shown_preview
    for part in (
        setup["plan"],
        ", ".join(setup["add_ons"]),
        texts["cs_payer_" + setup["payer"]],
        texts["cs_period_" + setup["billing_period"]],
        "vault (redirection): label = Coffre, token = ********",
        shown(tenant.admin.name),
    ):
        assert part in shown_preview, part
    assert "TOPSECRET-123" not in answer.text
    assert value_of(answer, "first_name") == "Paul"
    assert f'<option value="{template_id}" selected>' in answer.text
    assert nonce_of(answer) == form["form_id"]
    assert await started_count(api_server, tenant) == 0
    # Without its CSRF token, no preview either.
    refused = await api_server.post(
        NEW, data={k: v for k, v in form.items() if k != "csrf_token"}, headers=headers
    )
    assert refused.status_code == 403


async def test_new_client_form_preview_of_another_firms_template_is_the_templates_error(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """Another firm's template previews as an unknown one: the template's error, nothing of
    theirs shown."""
    other = await make_tenant(pool, "Another firm")
    theirs = await templates.get_default(pool, partner_id=other.partner.id)
    assert theirs is not None
    headers, page = await open_form(api_server, smtp_sink, tenant)
    answer = await api_server.post(
        NEW, data=filled(page, template_id=str(theirs.id), action="preview"), headers=headers
    )
    assert answer.status_code == 422, answer.text
    assert linked(answer.text, "template_id", lang_of(answer)["nc_error_template_id"])
    assert "setup-preview" not in answer.text and str(theirs.id) not in answer.text


async def test_new_client_form_overrides_the_templates_plan_and_period_for_this_client(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """A plan and a billing period chosen for this client beat the template's, in the preview
    and in the client's setup, as the API's overrides do; a plan not of the firm's is refused
    next to its field, nothing started."""
    for code in ("essentials", "premium"):
        plan = {"code": code, "name": code.title()}
        assert (
            await api_server.post("/v1/plans", json=plan, headers=tenant.auth)
        ).status_code == 201
    made = await api_server.post(
        "/v1/templates",
        json={"name": "Monthly", "plan": "essentials", "billing_period": "monthly"},
        headers=tenant.auth,
    )
    assert made.status_code == 201, made.text
    headers, page = await open_form(api_server, smtp_sink, tenant)
    texts = lang_of(page)
    assert '<option value="premium">Premium</option>' in page.text
    chosen = filled(
        page,
        template_id=made.json()["id"],
        override_plan="premium",
        override_billing_period="annual",
    )
    previewed = await api_server.post(NEW, data={**chosen, "action": "preview"}, headers=headers)
    assert previewed.status_code == 200, previewed.text
    shown_preview = previewed.text.split('class="card setup-preview"')[1].split("</section>")[0]
    assert "premium" in shown_preview and shown(texts["cs_period_annual"]) in shown_preview
    assert '<option value="premium" selected>' in previewed.text

    unknown = await api_server.post(NEW, data={**chosen, "override_plan": "gold"}, headers=headers)
    assert unknown.status_code == 422, unknown.text
    assert linked(unknown.text, "override_plan", texts["nc_error_override_plan"])
    assert await started_count(api_server, tenant) == 0

    sent = await api_server.post(NEW, data=chosen, headers=headers)
    assert sent.status_code == 303, sent.text
    client = await _client_of(api_server, tenant, sent.headers["location"].rsplit("/", 1)[1])
    assert (client["setup"]["plan"], client["setup"]["billing_period"]) == ("premium", "annual")


def lookup_of(page: httpx.Response) -> str:
    """The page's "what the register says" section."""
    assert 'id="lookup-title"' in page.text, page.text
    return page.text.split('class="company-lookup"')[1].split("</section>")[0]


async def test_new_client_form_looks_up_the_siret_and_shows_the_registers_answer(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, registry: RegistryStandin
) -> None:
    """ "Look up the company" gives the form back (same nonce, values kept) with the name,
    address, legal form and state the register gives; nothing started."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    texts = lang_of(page)
    assert 'id="look-up-company"' in page.text
    # After the start button: Enter in a field still starts the onboarding.
    assert page.text.index('class="primary"') < page.text.index('id="look-up-company"')
    answer = await api_server.post(
        NEW, data=filled(page, siret="552 032 534 00646", action="lookup"), headers=headers
    )
    assert answer.status_code == 200, answer.text
    assert_strict(answer)
    shown_lookup = lookup_of(answer)
    assert "DANONE" in shown_lookup and "75009" in shown_lookup and "5599" in shown_lookup
    assert shown(texts["nc_lookup_active"]) in shown_lookup
    assert value_of(answer, "siret") == "552 032 534 00646"
    assert value_of(answer, "first_name") == "Inès"
    assert nonce_of(answer) == nonce_of(page)
    assert await started_count(api_server, tenant) == 0


async def test_new_client_form_lookup_says_unknown_or_unreachable_without_an_error_page(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, registry: RegistryStandin
) -> None:
    """A SIRET the register does not know: "unknown to the register"; the register down:
    "cannot be reached now"; both a 200 page, nothing started."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    texts = lang_of(page)
    unknown = await api_server.post(
        NEW, data=filled(page, siret="73282932000074", action="lookup"), headers=headers
    )
    assert unknown.status_code == 200, unknown.text
    assert shown(texts["nc_lookup_unknown"]) in lookup_of(unknown)
    registry.set_down()
    down = await api_server.post(
        NEW, data=filled(page, siret="55203253400646", action="lookup"), headers=headers
    )
    assert down.status_code == 200, down.text
    assert shown(texts["nc_lookup_unreachable"]) in lookup_of(down)
    assert await started_count(api_server, tenant) == 0


async def test_new_client_form_lookup_with_a_wrong_siret_says_so_next_to_the_field(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, registry: RegistryStandin
) -> None:
    """A wrong check digit: the field's checksum error (422), the register not asked."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    texts = lang_of(page)
    answer = await api_server.post(
        NEW, data=filled(page, siret="55203253400647", action="lookup"), headers=headers
    )
    assert answer.status_code == 422, answer.text
    assert linked(answer.text, "siret", texts["nc_error_siret_checksum"])
    assert registry.stats.total_requests == 0
    assert await started_count(api_server, tenant) == 0


async def test_new_client_form_looks_up_a_belgian_number_in_the_kbo_tables(
    api_server: httpx.AsyncClient,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    pool: Pool,
    tmp_path: Path,
) -> None:
    """A Belgian enterprise number typed: the loaded KBO sample's name and registered office."""
    directory = kbo_data.write_full_set(tmp_path / "full", synthetic=10)
    source = kbo.KboSource(directory)
    try:
        await kbo.load_full(pool, source=source)
    finally:
        source.close()
    headers, page = await open_form(api_server, smtp_sink, tenant)
    answer = await api_server.post(
        NEW,
        data=filled(page, enterprise_number="0202.239.951", action="lookup"),
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    shown_lookup = lookup_of(answer)
    assert "Proximus" in shown_lookup and "Boulevard du Roi Albert II" in shown_lookup
    assert value_of(answer, "enterprise_number") == "0202.239.951"


async def test_new_client_form_lookup_without_its_csrf_token_is_refused(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, registry: RegistryStandin
) -> None:
    """The look-up button without the token or from another origin: 403, the register not asked."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    form = filled(page, siret="55203253400646", action="lookup")
    no_token = {k: v for k, v in form.items() if k != "csrf_token"}
    for data, sent_headers in ((no_token, headers), (form, {**headers, "Origin": EVIL})):
        answer = await api_server.post(NEW, data=data, headers=sent_headers)
        assert answer.status_code == 403, answer.text
    assert registry.stats.total_requests == 0


async def test_new_client_form_lookup_with_the_registry_budget_spent_says_try_again_shortly(
    api_server: httpx.AsyncClient,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    registry: RegistryStandin,
    pool: Pool,
) -> None:
    """No request slot free for the register (the workers spending the budget): the form back
    saying to try again shortly, the register not asked, nothing started."""
    headers, page = await open_form(api_server, smtp_sink, tenant)
    texts = lang_of(page)
    held = await hold_every_place(pool, registry)
    try:
        answer = await api_server.post(
            NEW, data=filled(page, siret="55203253400646", action="lookup"), headers=headers
        )
    finally:
        for place_id in held:
            await limits.leave_window(pool, place_id=place_id)
    assert answer.status_code == 200, answer.text
    assert shown(texts["nc_lookup_busy"]) in lookup_of(answer)
    assert registry.stats.total_requests == 0
    assert await started_count(api_server, tenant) == 0
