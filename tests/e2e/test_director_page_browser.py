"""The director's page in a real browser: Debian's Chromium driven by Playwright.

The link is the one in the real invitation e-mail caught by the SMTP sink, opened verbatim (the
API is served at the settings' public base URL, so the e-mail points at it). Screenshots of the
French and Dutch invitation pages, the confirmation and the "already used" page land in
test-artifacts/screenshots/ (git-ignored; CI keeps them as artefacts). The browser is never
downloaded: `.ci/run` installs Debian's `chromium`; without one the test skips and says so.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Page, Route, async_playwright
from temporalio.client import Client
from temporalio.worker import Worker

from api.deps import Services
from api.main import create_app
from core.settings import Settings
from devstack.ports import free_port
from devstack.serving import serve_app
from devstack.smtp_sink import Received, SmtpSink
from store.pool import Pool
from tests.e2e.browser_helpers import SCREENSHOTS, require_chromium
from tests.factories import Tenant

pytestmark = pytest.mark.e2e

LOGO_URL = "https://assets.fiduciaire-lambert.example/logo.svg"
# Served by the browser's own request interception: the test never reaches the internet.
LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="220" height="40" viewBox="0 0 220 40">'
    '<rect width="40" height="40" rx="8" fill="#FFFFFF"/>'
    '<text x="20" y="27" font-family="Arial" font-size="20" font-weight="bold" '
    'text-anchor="middle" fill="#7A1F5C">FL</text>'
    '<text x="52" y="27" font-family="Arial" font-size="18" fill="#FFFFFF">'
    "Fiduciaire Lambert</text></svg>"
)


@pytest.fixture
def site_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, site_port: int) -> Settings:
    """The test settings, with e-mails linking to the API this test serves."""
    return settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{site_port}"})


@pytest.fixture
async def site(
    settings: Settings, pool: Pool, client: Client, site_port: int
) -> AsyncIterator[httpx.AsyncClient]:
    """The API served by uvicorn on the port the e-mails link to."""
    app = create_app(settings, services=Services(settings=settings, pool=pool, temporal=client))
    async with serve_app(app, port=site_port) as http:
        yield http


async def _onboard(site: httpx.AsyncClient, tenant: Tenant, *, language: str, who: str) -> None:
    response = await site.post(
        "/v1/onboardings",
        json={
            "client": {
                "first_name": who,
                "last_name": "Janssens",
                "email": f"{who.lower()}@janssens.example",
                "language": language,
                "company_name": f"Janssens {language.upper()} SRL",
            },
            "director": {
                "email": f"{who.lower()}@janssens.example",
                "first_name": who,
                "last_name": "Janssens",
                "themes": ["Comptabilité", "Salaires"],
            },
        },
        headers={"Idempotency-Key": f"browser-{uuid.uuid4()}", **tenant.auth},
    )
    assert response.status_code == 202, response.text


def link_in(message: Received, base_url: str) -> str:
    """The accept link of the e-mail's plain-text part, as the director would click it."""
    text = message.message.get_body(preferencelist=("plain",))
    assert text is not None
    match = re.search(rf"({re.escape(base_url)}/v1/invitations/\S+)", text.get_content())
    assert match, text.get_content()
    return match.group(1)


async def _serve_logo(route: Route) -> None:
    await route.fulfill(status=200, content_type="image/svg+xml", body=LOGO_SVG)


async def _shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


async def test_director_accepts_from_the_email_link_in_chromium(
    site: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
) -> None:
    """Open the e-mail's link, see the partner's name, Accept, see the confirmation; open the
    link again: "already used". The Dutch client's link opens in Dutch."""
    executable = require_chromium()
    branding = {"display_name": "Fiduciaire Lambert", "colour": "#7A1F5C", "logo_url": LOGO_URL}
    assert (await site.put("/v1/branding", json=branding, headers=tenant.auth)).status_code == 200
    await _onboard(site, tenant, language="fr", who="Sophie")
    await _onboard(site, tenant, language="nl", who="Pieter")
    received = await smtp_sink.handler.arrived(2)
    links = {m.rcpt_tos[0].split("@")[0]: link_in(m, settings.public_base_url) for m in received}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        try:
            # A phone-sized window: the page must work where most e-mails are read.
            context = await browser.new_context(
                viewport={"width": 414, "height": 860}, locale="en-GB"
            )
            await context.route(LOGO_URL, _serve_logo)
            page = await context.new_page()

            opened = await page.goto(links["pieter"])
            assert opened is not None and opened.status == 200
            assert await page.get_attribute("html", "lang") == "nl"
            await page.get_by_role("heading", name="Uitnodiging van Fiduciaire Lambert").wait_for()
            await page.get_by_role("img", name="Fiduciaire Lambert").wait_for()
            await _shot(page, "invitation-nl.png")

            opened = await page.goto(links["sophie"])
            assert opened is not None and opened.status == 200
            assert await page.get_attribute("html", "lang") == "fr"
            await page.get_by_role("heading", name="Invitation de Fiduciaire Lambert").wait_for()
            assert "Fiduciaire Lambert a préparé l'espace en ligne de Janssens FR SRL" in (
                await page.inner_text("main")
            )
            await _shot(page, "invitation-fr.png")

            await page.get_by_role("button", name="Accepter l'invitation").click()
            await page.get_by_role("heading", name="Invitation acceptée").wait_for()
            await _shot(page, "accepted-fr.png")

            reopened = await page.goto(links["sophie"])
            assert reopened is not None and reopened.status == 409
            await page.get_by_role(
                "heading", name="Cette invitation a déjà été utilisée"
            ).wait_for()
            assert await page.get_by_role("button").count() == 0
            await _shot(page, "already-used-fr.png")
        finally:
            await browser.close()
    for name in ("invitation-nl", "invitation-fr", "accepted-fr", "already-used-fr"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 1000, name
