"""The console's Branding page over the real stack (uvicorn, PostgreSQL, SMTP sink): the preview
shows the typed branding in the director's real invitation page and e-mail and saves nothing;
Save stores it through the function PUT /v1/branding calls, refusing what the API refuses; a
form without its CSRF token or from another origin changes nothing; only administrators change
it, as through the API."""

from __future__ import annotations

import re
import uuid
from html import unescape

import httpx

from api.console import CSRF_FIELD
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from store import partners
from store.pool import Pool
from tests.console_helpers import (
    EVIL,
    HOSTILE,
    as_user,
    assert_strict,
    csrf_of,
    fresh_ip_limit,
    sign_in_as,
)
from tests.factories import Tenant

__all__ = ["fresh_ip_limit"]  # the sign-in budget fixture, autouse here too

PAGE = "/console/settings/branding"
GOOD = {
    "display_name": "Cabinet Lumière",
    "sender": "bonjour@lumiere.example",
    "reply_to": "",
    "logo_url": "",
    "colour": "#0b6e4f",
}


async def _stored(http: httpx.AsyncClient, tenant: Tenant) -> dict[str, object]:
    answer = await http.get("/v1/branding", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def _frames(page: httpx.Response) -> list[str]:
    return [unescape(src) for src in re.findall(r'<iframe[^>]* src="([^"]+)"', page.text)]


async def test_branding_preview_renders_the_typed_values_and_saves_nothing(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Preview answers the form with the director's invitation page and e-mail rendered with
    the typed name and colour (a hostile name as text), each framed under its own policy;
    GET /v1/branding still says what was there."""
    before = await _stored(api_server, tenant)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    page = await api_server.get(PAGE, headers=as_user(cookie))
    assert page.status_code == 200, page.text
    assert_strict(page)
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    typed = {**GOOD, "display_name": HOSTILE[0], CSRF_FIELD: csrf_of(page), "action": "preview"}
    shown = await api_server.post(PAGE, data=typed, headers=as_user(cookie))
    assert shown.status_code == 200, shown.text
    assert_strict(shown)
    assert HOSTILE[0] not in shown.text and "&lt;script&gt;" in shown.text
    assert 'value="#0b6e4f"' in shown.text  # what was typed, kept as typed
    assert await _stored(api_server, tenant) == before

    email_src, page_src = _frames(shown)
    framed_email = await api_server.get(email_src, headers=as_user(cookie))
    framed_page = await api_server.get(page_src, headers=as_user(cookie))
    for framed in (framed_email, framed_page):
        assert framed.status_code == 200, framed.text
        policy = framed.headers["content-security-policy"]
        assert "frame-ancestors 'self'" in policy and "form-action 'none'" in policy
        assert "script-src" not in policy  # default-src 'none': no script at all
        assert "#0B6E4F" in framed.text
        assert HOSTILE[0] not in framed.text and "&lt;script&gt;" in framed.text
    assert "Élodie Lefèvre" in framed_page.text  # the sample director of the real page

    # Signed out, a preview shows nothing.
    assert (await api_server.get(page_src)).status_code == 404


async def test_branding_save_refuses_what_the_api_refuses_then_stores(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """A colour that is not #RRGGBB and a logo over http are refused next to their fields in
    French, typed values kept, nothing stored (PUT /v1/branding refuses the same fields);
    valid values are saved (post-redirect-get) and the API reads them back."""
    before = await _stored(api_server, tenant)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    token = csrf_of(await api_server.get(PAGE, headers=as_user(cookie)))
    bad = {**GOOD, "colour": "red", "logo_url": "http://logo.example/l.png"}
    refused = await api_server.post(
        PAGE, data={**bad, CSRF_FIELD: token, "action": "save"}, headers=as_user(cookie)
    )
    assert refused.status_code == 422
    assert "Saisissez une couleur" in refused.text
    assert "Saisissez une adresse https" in refused.text
    assert 'href="#colour"' in refused.text and 'href="#logo_url"' in refused.text
    assert 'value="red"' in refused.text and 'value="http://logo.example/l.png"' in refused.text
    assert await _stored(api_server, tenant) == before
    api_says = await api_server.put(
        "/v1/branding", json={k: v for k, v in bad.items() if v}, headers=tenant.auth
    )
    assert api_says.status_code == 422
    assert {e["field"] for e in api_says.json()["errors"]} == {"colour", "logo_url"}

    saved = await api_server.post(
        PAGE, data={**GOOD, CSRF_FIELD: token, "action": "save"}, headers=as_user(cookie)
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"{PAGE}?done=saved"
    after = await _stored(api_server, tenant)
    assert after["display_name"] == "Cabinet Lumière" and after["colour"] == "#0B6E4F"
    assert after["sender"] == "bonjour@lumiere.example"
    shown = await api_server.get(saved.headers["location"], headers=as_user(cookie))
    assert "image de marque est enregistrée" in shown.text


async def test_branding_form_without_token_or_from_another_origin_changes_nothing(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant
) -> None:
    """Missing or wrong CSRF token, or another Origin: 403 and the branding unchanged."""
    before = await _stored(api_server, tenant)
    cookie, _ = await sign_in_as(api_server, smtp_sink, tenant.admin.email)
    token = csrf_of(await api_server.get(PAGE, headers=as_user(cookie)))
    form = {**GOOD, "action": "save"}
    answers = [
        await api_server.post(PAGE, data=form, headers=as_user(cookie)),
        await api_server.post(PAGE, data={**form, CSRF_FIELD: "x" * 43}, headers=as_user(cookie)),
        await api_server.post(
            PAGE, data={**form, CSRF_FIELD: token}, headers={**as_user(cookie), "Origin": EVIL}
        ),
    ]
    assert [a.status_code for a in answers] == [403] * 3
    assert await _stored(api_server, tenant) == before


async def test_branding_is_changed_by_administrators_only(
    api_server: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, pool: Pool
) -> None:
    """A client manager sees the branding and its preview but no form; a Save from them is
    refused (403, as PUT /v1/branding refuses anyone but administrators) and changes nothing."""
    before = await _stored(api_server, tenant)
    user = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email=f"cm-{uuid.uuid4().hex[:6]}@example.com",
        name="Chloé",
        role=Role.client_manager,
        language="en",
    )
    assert user is not None
    cookie, _ = await sign_in_as(api_server, smtp_sink, user.email)
    page = await api_server.get(PAGE, headers=as_user(cookie))
    assert page.status_code == 200
    assert "Only an administrator can change the branding." in page.text
    assert "Save the branding" not in page.text and len(_frames(page)) == 2
    refused = await api_server.post(
        PAGE,
        data={**GOOD, CSRF_FIELD: csrf_of(page), "action": "save"},
        headers=as_user(cookie),
    )
    assert refused.status_code == 403
    assert "your role does not allow this" in refused.text
    assert await _stored(api_server, tenant) == before
