"""The director's page behind the invitation link: HTML for browsers in the client's language and
the partner's branding, its Accept form (CSRF-checked, safe to submit twice), the dead ends with
their statuses, and JSON still answered to API callers. Real uvicorn, PostgreSQL and Temporal."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape

import httpx
import pytest
from temporalio.worker import Worker

from api.pages.form_guard import FORM_FIELD
from api.pages.negotiation import wants_html
from api.pages.texts import LANGUAGES, TEXTS
from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from domain.invitation import TokenClaims, sign_token, token_hash
from store import clients, invitations, partners
from store.pool import Pool
from tests.api_helpers import _invited
from tests.console_helpers import BROWSER, FORM_INPUT
from tests.e2e.helpers import wait_status
from tests.factories import Tenant, make_client

BRANDING = {
    "display_name": "Fiduciaire Van Damme",
    "colour": "#0B6E4F",
    "logo_url": "https://cdn.vandamme.example/logo.png",
    "reply_to": "help@vandamme.example",
}


def text_of(page: httpx.Response) -> str:
    """The visible words of a page, entities decoded, whitespace collapsed."""
    body = re.sub(r"<style.*?</style>", " ", page.text, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


async def _recorded(
    pool: Pool,
    tenant: Tenant,
    settings: Settings,
    *,
    language: str,
    expires_in: timedelta = timedelta(days=14),
) -> tuple[uuid.UUID, str]:
    """(onboarding id, token) of an invitation recorded as the invitation activity records one,
    for a client with a director, without a workflow behind it."""
    onboarding_id, client_id = await make_client(
        pool, tenant, language=language, name="Boulangerie Peeters"
    )
    await clients.add_director(
        pool,
        user_id=uuid.uuid4(),
        client_id=client_id,
        email="an@peeters.example",
        first_name="An",
        last_name="Peeters",
        themes=["Boekhouding", "Lonen"],
    )
    expires_at = datetime.now(UTC).replace(microsecond=0) + expires_in
    claims = TokenClaims(onboarding_id=onboarding_id, sequence=1, expires_at=expires_at)
    token = sign_token(claims, settings.secret_key.get_secret_value())
    await invitations.record(
        pool,
        onboarding_id=onboarding_id,
        sequence=1,
        token_hash=token_hash(token),
        recipient="an@peeters.example",
        expires_at=expires_at,
    )
    return onboarding_id, token


@pytest.fixture
async def branded(pool: Pool, tenant: Tenant) -> Tenant:
    await partners.set_branding(pool, partner_id=tenant.partner.id, branding=BRANDING)
    return tenant


def test_browsers_get_html_and_api_callers_json() -> None:
    """Only a caller that names text/html above JSON gets the page."""
    assert wants_html(BROWSER["Accept"])
    assert wants_html("text/html")
    assert not wants_html(None)
    assert not wants_html("*/*")
    assert not wants_html("application/json")
    assert not wants_html("application/json, text/html;q=0.5")
    assert not wants_html("text/html;q=0")


def test_every_language_has_every_sentence() -> None:
    """A sentence added in one language only would show a KeyError to a director."""
    for language in LANGUAGES:
        assert TEXTS[language].keys() == TEXTS["en"].keys(), language


@pytest.mark.parametrize(
    ("language", "intro", "button"),
    [
        ("fr", "a préparé l'espace en ligne de Boulangerie Peeters", "Accepter l'invitation"),
        ("nl", "heeft de online omgeving van Boulangerie Peeters klaargezet", "aanvaarden"),
        ("en", "has prepared the online space of Boulangerie Peeters", "Accept the invitation"),
        ("de", "hat den Online-Bereich von Boulangerie Peeters vorbereitet", "annehmen"),
    ],
)
async def test_page_speaks_the_clients_language_with_the_partners_branding(
    api: httpx.AsyncClient,
    pool: Pool,
    branded: Tenant,
    settings: Settings,
    language: str,
    intro: str,
    button: str,
) -> None:
    """The link opens a page in the client's language (not the browser's), with the partner's
    name, colour and logo, the director's themes and the Accept form."""
    _, token = await _recorded(pool, branded, settings, language=language)
    page = await api.get(
        f"/v1/invitations/{token}", headers={**BROWSER, "Accept-Language": "en-GB,en;q=0.9"}
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'<html lang="{language}">' in page.text
    assert 'name="viewport"' in page.text
    words = text_of(page)
    assert intro in words
    assert "Fiduciaire Van Damme" in words
    assert "Boekhouding" in words and "Lonen" in words
    assert button in words
    assert "#0B6E4F" in page.text  # the header's and the button's colour
    assert '<img src="https://cdn.vandamme.example/logo.png" alt="Fiduciaire Van Damme">' in (
        page.text
    )
    assert '<form method="post" action="/v1/invitations/' in page.text
    # The URL carries the credential: no Referer may take it to the logo's host.
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    assert "form-action 'self'" in page.headers["content-security-policy"]


async def test_json_is_still_served_to_api_callers(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, settings: Settings
) -> None:
    """`*/*`, `application/json` or no preference: the JSON answer, as before the page."""
    _, token = await _recorded(pool, tenant, settings, language="fr")
    for accept in ("*/*", "application/json", "application/json, text/html;q=0.9"):
        answer = await api.get(f"/v1/invitations/{token}", headers={"Accept": accept})
        assert answer.status_code == 200, accept
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["status"] == "open"
        assert "Accept" in answer.headers["vary"]


async def test_dead_links_say_what_to_do_with_their_status(
    api: httpx.AsyncClient, pool: Pool, branded: Tenant, settings: Settings
) -> None:
    """Expired and replaced: 410 in the client's language, naming the partner; unknown or forged:
    404 in the browser's language; JSON callers keep their problem documents."""
    _, expired = await _recorded(
        pool, branded, settings, language="nl", expires_in=timedelta(minutes=-5)
    )
    page = await api.get(f"/v1/invitations/{expired}", headers=BROWSER)
    assert page.status_code == 410
    assert "Deze uitnodiging is verlopen" in text_of(page)
    assert "Vraag Fiduciaire Van Damme om u een nieuwe uitnodiging" in text_of(page)
    assert "<form" not in page.text
    assert (await api.get(f"/v1/invitations/{expired}")).status_code == 410
    async with pool.acquire() as conn:
        assert await invitations.mark_accepted(conn, token_hash=token_hash(expired)) is not None
    page = await api.get(f"/v1/invitations/{expired}", headers=BROWSER)
    assert page.status_code == 409  # accepted, then expired: still "already used" to its owner
    assert "Deze uitnodiging is al gebruikt" in text_of(page)

    onboarding_id, replaced = await _recorded(pool, branded, settings, language="de")
    await invitations.record(
        pool,
        onboarding_id=onboarding_id,
        sequence=2,
        token_hash="a-newer-invitation",
        recipient="an@peeters.example",
        expires_at=datetime.now(UTC) + timedelta(days=14),
    )
    page = await api.get(f"/v1/invitations/{replaced}", headers=BROWSER)
    assert page.status_code == 410
    assert "durch einen neueren ersetzt" in text_of(page)
    assert "<form" not in page.text

    payload, signature = replaced.split(".")
    for unknown in (f"{payload}.{signature[::-1]}", "not-a-token"):
        page = await api.get(
            f"/v1/invitations/{unknown}", headers={**BROWSER, "Accept-Language": "nl-BE,fr;q=0.5"}
        )
        assert page.status_code == 404
        assert '<html lang="nl">' in page.text
        assert "Onbekende uitnodigingslink" in text_of(page)
        assert "Fiduciaire" not in page.text  # a forged link learns nothing about the invitation
        answer = await api.get(f"/v1/invitations/{unknown}")
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"


async def test_accept_without_temporal_keeps_the_link_usable(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, settings: Settings
) -> None:
    """When the workflow cannot be told, the page answers 503 with the form again, and the token
    stays unused so the director can simply press again."""
    _, token = await _recorded(pool, tenant, settings, language="en")
    page = await api.get(f"/v1/invitations/{token}", headers=BROWSER)
    [value] = FORM_INPUT.findall(page.text)
    answer = await api.post(
        f"/v1/invitations/{token}/accept", data={FORM_FIELD: value}, headers=BROWSER
    )
    assert answer.status_code == 503
    assert "Please try again in a moment" in text_of(answer)
    assert FORM_INPUT.search(answer.text)
    row = await invitations.find(pool, token_hash=token_hash(token))
    assert row is not None and row.accepted_at is None


async def test_accept_form_refuses_csrf_then_accepts_once_and_survives_a_double_submit(
    api: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    pool: Pool,
    tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """From the real e-mail's link: a form without the page's token, or from another site, is
    refused (403) and records nothing; the page's own form accepts; a second submit shows the
    same confirmation; the link then says "already used" (409); the token is never logged."""
    caplog.set_level(logging.DEBUG)
    onboarding_id, path = await _invited(api, smtp_sink)
    token = path.rsplit("/", 1)[1]
    auth = dict(api.headers)
    api.headers.pop("Authorization")

    page = await api.get(path, headers=BROWSER)
    assert page.status_code == 200 and '<html lang="fr">' in page.text
    assert "Bonjour Léa Moreau" in text_of(page)
    assert "Cabinet Test a préparé l'espace en ligne de Moreau & Fils" in text_of(page)
    [value] = FORM_INPUT.findall(page.text)
    accept = f"{path}/accept"

    refused = [
        await api.post(accept, data={"another": "field"}, headers=BROWSER),
        await api.post(accept, data={FORM_FIELD: value[::-1]}, headers=BROWSER),
        await api.post(accept, data={FORM_FIELD: "é" + value[1:]}, headers=BROWSER),
        await api.post(
            accept,
            data={FORM_FIELD: value},
            headers={**BROWSER, "Origin": "https://evil.example"},
        ),
        await api.post(
            accept, data={FORM_FIELD: value}, headers={**BROWSER, "Sec-Fetch-Site": "cross-site"}
        ),
        # A sandboxed frame elsewhere: its Origin is "null", Sec-Fetch-Site tells.
        await api.post(
            accept,
            data={FORM_FIELD: value},
            headers={**BROWSER, "Origin": "null", "Sec-Fetch-Site": "cross-site"},
        ),
    ]
    for answer in refused:
        assert answer.status_code == 403
        assert "Merci de confirmer à nouveau" in text_of(answer)
        assert FORM_INPUT.findall(answer.text) == [value]  # offered again, same page token
    # A text/plain form skips the preflight: it is a form to us, refused without the page's token.
    crossed = await api.post(
        accept, content=b"x", headers={"Content-Type": "text/plain", "Origin": "https://e.example"}
    )
    assert crossed.status_code == 403
    assert "Merci de confirmer à nouveau" in text_of(crossed)
    # The JSON route refuses a cross-site browser's bodiless post (a no-cors fetch).
    bodiless = await api.post(accept, headers={"Origin": "https://e.example"})
    assert bodiless.status_code == 403
    assert bodiless.json()["type"].endswith("/cross-site-request")
    row = await invitations.find(pool, token_hash=token_hash(token))
    assert row is not None and row.accepted_at is None

    origin = str(api.base_url).rstrip("/")
    same_site = {**BROWSER, "Origin": origin, "Sec-Fetch-Site": "same-origin"}
    confirmed = await api.post(accept, data={FORM_FIELD: value}, headers=same_site)
    assert confirmed.status_code == 200
    assert "Invitation acceptée" in text_of(confirmed)
    # The second click as Chromium may send it: `Origin: null`, but same-origin by Sec-Fetch-Site.
    again = await api.post(
        accept,
        data={FORM_FIELD: value},
        headers={**BROWSER, "Origin": "null", "Sec-Fetch-Site": "same-origin"},
    )
    assert again.status_code == 200
    assert "Invitation acceptée" in text_of(again)

    api.headers.update(auth)
    body = await wait_status(api, onboarding_id, "COMPLETED")
    assert body["invitation"]["state"] == "accepted"
    api.headers.pop("Authorization")
    used = await pool.fetchval(
        "SELECT count(*) FROM invitations WHERE onboarding_id = $1 AND accepted_at IS NOT NULL",
        uuid.UUID(onboarding_id),
    )
    assert used == 1

    reopened = await api.get(path, headers=BROWSER)
    assert reopened.status_code == 409
    assert "Cette invitation a déjà été utilisée" in text_of(reopened)
    assert "<form" not in reopened.text
    assert (await api.get(path)).json()["status"] == "accepted"
    assert (await api.post(accept)).status_code == 409

    for record in caplog.records:
        assert token not in record.getMessage() + repr(vars(record)), record.name
    assert any("/v1/invitations/***/accept" in r.getMessage() for r in caplog.records)


FRONT_END = "https://app.partner.example/invite?token={token}"


async def test_partner_front_end_receives_the_director_with_the_token(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, settings: Settings
) -> None:
    """With an accept-URL template, a browser opening the link is sent (303) to the partner's
    front end with the token, API callers still get JSON, and unset means our page again."""
    saved = await api.put("/v1/invitation-page", json={"accept_url_template": FRONT_END})
    assert saved.status_code == 200, saved.text
    assert (await api.get("/v1/invitation-page")).json() == {"accept_url_template": FRONT_END}
    _, token = await _recorded(pool, tenant, settings, language="fr")

    sent = await api.get(f"/v1/invitations/{token}", headers=BROWSER)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"https://app.partner.example/invite?token={token}"
    assert sent.headers["referrer-policy"] == "no-referrer"
    assert (await api.get(f"/v1/invitations/{token}")).json()["status"] == "open"
    # A link naming no invitation names no partner either: our own 404 page.
    assert (await api.get("/v1/invitations/not-a-token", headers=BROWSER)).status_code == 404

    assert (
        await api.put("/v1/invitation-page", json={"accept_url_template": None})
    ).status_code == 200
    assert (await api.get(f"/v1/invitations/{token}", headers=BROWSER)).status_code == 200


async def test_accept_url_template_is_checked_and_for_administrators(
    api: httpx.AsyncClient,
) -> None:
    """Only an https URL with `{token}` once, in its path or query, is taken (422 naming the
    field); an accountant may not change it (403)."""
    for bad in (
        "http://app.partner.example/invite?token={token}",
        "https://app.partner.example/invite",
        "https://app.partner.example/{token}/{token}",
        "https://{token}.partner.example/invite",
        "https://app.partner.example/invite?token={token}&x={other}",
        "javascript:alert(1)//{token}",
    ):
        refused = await api.put("/v1/invitation-page", json={"accept_url_template": bad})
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["field"] == "accept_url_template", bad

    user = await api.post(
        "/v1/users",
        json={"email": f"acc-{uuid.uuid4().hex[:6]}@ex.com", "name": "A", "role": "accountant"},
    )
    key = (await api.post(f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"})).json()
    forbidden = await api.put(
        "/v1/invitation-page",
        json={"accept_url_template": FRONT_END},
        headers={"Authorization": f"Bearer {key['key']}"},
    )
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        # The probe's request: a cross-site form with enctype=text/plain, from a sandboxed frame.
        (b"form_token=x", {"Content-Type": "text/plain", "Origin": "null"}),
        (b"{}", {"Content-Type": "text/plain;charset=UTF-8", "Origin": "null"}),
        # fetch(url, {method: "POST", mode: "no-cors"}) from a sandboxed frame: no body, no type.
        (b"", {"Origin": "null"}),
        (b"", {"Content-Type": "application/octet-stream", "Origin": "null"}),
    ],
    ids=["text-plain", "text-plain-json", "no-body-null-origin", "octet-stream"],
)
async def test_accept_without_the_form_token_is_refused_whatever_the_content_type(
    api: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    pool: Pool,
    content: bytes,
    headers: dict[str, str],
) -> None:
    """Only a JSON API call goes without the page's form token, and only when no browser says
    it came from elsewhere: a body a browser can send cross-site without a preflight (text/plain,
    any non-JSON type), or an `Origin: null` without Sec-Fetch-Site, records nothing; the API
    caller of the README still accepts."""
    _, path = await _invited(api, smtp_sink)
    token = path.rsplit("/", 1)[1]
    api.headers.pop("Authorization")
    refused = await api.post(f"{path}/accept", content=content, headers=headers)
    assert refused.status_code == 403, refused.text
    row = await invitations.find(pool, token_hash=token_hash(token))
    assert row is not None and row.accepted_at is None
    assert (await api.get(path)).json()["status"] == "open"

    accepted = await api.post(f"{path}/accept")  # curl -X POST, as the README shows
    assert accepted.status_code == 200, accepted.text
