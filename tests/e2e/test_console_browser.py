"""The firm's console in a real browser: Debian's Chromium driven by Playwright, over the real
stack (uvicorn at the settings' public base URL, PostgreSQL, Temporal worker, SMTP sink).

An administrator made as `onboarding partner create` makes one signs in from the link of the
e-mail the sink caught, finds the client in "My clients", opens its page, sends the invitation
now, signs out, and the cookie they had no longer opens anything. Every page is checked with
axe-core (axe-playwright-python ships axe.min.js: nothing is downloaded) for violations of impact
serious or critical, must raise no Content-Security-Policy report in the browser, and is
screenshotted at 1280 and 390 pixels wide to test-artifacts/screenshots/console-*.png.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import async_playwright
from temporalio.worker import Worker

from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from domain import totp
from domain.onboarding import client_id_for
from store.pool import Pool
from tests.console_helpers import _until_invitation
from tests.e2e.browser_helpers import (
    BODY,
    SCREENSHOTS,
    WIDTHS,
    Checker,
    _link,
    _sign_in,
    require_chromium,
    settings,
    site,
    site_port,
)
from tests.eventually import eventually
from tests.factories import Tenant, make_client

pytestmark = pytest.mark.e2e
__all__ = ["settings", "site", "site_port"]  # the served app's fixtures, from browser_helpers


async def test_administrator_signs_in_sends_an_invitation_and_signs_out_in_chromium(
    site: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
    pool: Pool,
) -> None:
    """From the e-mailed link to the client's page and back out, every page accessible."""
    executable = require_chromium()
    started = await site.post(
        "/v1/onboardings",
        json=BODY,
        headers={"Idempotency-Key": f"console-browser-{uuid.uuid4()}", **tenant.auth},
    )
    assert started.status_code == 202, started.text
    onboarding_id = started.json()["id"]
    client_id = client_id_for(uuid.UUID(onboarding_id))
    # A neighbour with a hostile name: shown as text on the list, never run.
    await make_client(pool, tenant, name="<script>alert(1)</script>")
    await _until_invitation(site, tenant, onboarding_id, "waiting_manual")
    smtp_sink.handler.clear()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = settings.public_base_url

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        try:
            context = await browser.new_context(
                viewport={"width": WIDTHS[0], "height": 900}, locale="fr-FR"
            )
            page = await context.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: dialogs.append(d.message))
            checker = Checker(page)

            # The root URL lands on the sign-in page; a bad address gets the form back.
            await page.goto(f"{base}/")
            assert page.url.startswith(f"{base}/console/sign-in")
            await page.get_by_role("heading", name="Connexion").wait_for()
            await checker.check("sign-in")
            await page.get_by_label("Adresse e-mail").fill("pas-une-adresse")
            await page.get_by_role("button", name="M'envoyer un lien de connexion").click()
            await page.get_by_role("heading", name="Il y a un problème").wait_for()
            await checker.check("sign-in-error")
            await page.get_by_label("Adresse e-mail").fill(tenant.admin.email)
            await page.get_by_role("button", name="M'envoyer un lien de connexion").click()
            await page.get_by_role("heading", name="Consultez vos e-mails").wait_for()
            await checker.check("sign-in-sent")

            [mail] = await smtp_sink.handler.arrived(1)
            text = mail.message.get_body(preferencelist=("plain",))
            assert text is not None
            await page.goto(_link(text.get_content(), base))
            await checker.check("sign-in-link")
            await page.get_by_role("button", name="Continuer").click()

            await page.get_by_role("heading", name="Mes clients").wait_for()
            assert page.url == f"{base}/console/clients"
            assert "<script>alert(1)</script>" in await page.inner_text("main")
            await checker.check("clients")

            await page.get_by_role("link", name="Boulangerie Lefèvre & Fils").click()
            await page.get_by_role("heading", name="Boulangerie Lefèvre & Fils").wait_for()
            assert page.url == f"{base}/console/clients/{client_id}"
            await page.get_by_text("À envoyer").wait_for()
            await checker.check("client")

            smtp_sink.handler.clear()
            await page.get_by_role("button", name="Envoyer l'invitation maintenant").click()
            await page.get_by_text("L'invitation est en cours d'envoi.").wait_for()
            [invitation] = await smtp_sink.handler.arrived(1)
            assert invitation.rcpt_tos == ["elodie@lefevre.example"]
            await checker.check("client-sent")
            # Once the onboarding reports it sent, the page offers neither action any more.

            async def shown() -> str:
                await page.goto(f"{base}/console/clients/{client_id}")
                return await page.locator("#invitation-state").inner_text()

            await eventually(
                shown, until=lambda s: s == "Envoyée", what="the page showing it sent", every=0.1
            )
            send_now = page.get_by_role("button", name="Envoyer l'invitation maintenant")
            assert await send_now.count() == 0

            await page.goto(f"{base}/console/clients/{uuid.uuid4()}")
            await page.get_by_role("heading", name="Page introuvable").wait_for()
            await checker.check("not-found")

            cookies = await context.cookies()
            assert [c["name"] for c in cookies] == ["console_session"]
            assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Lax"
            await page.get_by_role("button", name="Se déconnecter").click()
            await page.get_by_text("Vous êtes déconnecté.").wait_for()
            await checker.check("signed-out")
            assert dialogs == [] and checker.csp_reports == []

            # The cookie held before signing out opens nothing any more.
            stale = await browser.new_context(locale="fr-FR")
            await stale.add_cookies(cookies)  # type: ignore[arg-type]  # the same dicts back
            again = await stale.new_page()
            await again.goto(f"{base}/console/clients/{client_id}")
            assert again.url.startswith(f"{base}/console/sign-in?next=")
            await stale.close()
        finally:
            await browser.close()
    for name in checker.shots:
        assert (SCREENSHOTS / name).stat().st_size > 1000, name
    assert len(checker.shots) == 9 * len(WIDTHS)


async def test_client_page_timeline_follows_the_onboarding_without_a_reload(
    site: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
) -> None:
    """Opened from its e-mail link while the onboarding waits for company details (before the
    client exists), the page shows the steps; details given elsewhere, its timeline reaches
    READY by itself."""
    executable = require_chromium()
    body = {**BODY, "client": {**BODY["client"], "siret": "73282932000074"}}
    started = await site.post(
        "/v1/onboardings",
        json=body,
        headers={"Idempotency-Key": f"console-live-{uuid.uuid4()}", **tenant.auth},
    )
    assert started.status_code == 202, started.text
    onboarding_id = started.json()["id"]

    async def view() -> dict[str, Any]:
        answer = await site.get(f"/v1/onboardings/{onboarding_id}", headers=tenant.auth)
        body: dict[str, Any] = answer.json()
        return body

    await eventually(
        view,
        until=lambda v: v["status"] == "AWAITING_COMPANY_DETAILS",
        what="the onboarding awaiting company details",
        within=20,
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = settings.public_base_url

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        try:
            context = await browser.new_context(
                viewport={"width": WIDTHS[0], "height": 900}, locale="fr-FR"
            )
            page = await context.new_page()
            checker = Checker(page)
            # The staff e-mail's link: sign-in first, then back to it.
            await page.goto(f"{base}/console/onboardings/{onboarding_id}")
            assert page.url.startswith(f"{base}/console/sign-in?next=")
            await _sign_in(page, smtp_sink, tenant.admin.email, base)
            await page.get_by_text("Le client n'est pas encore créé").wait_for()
            assert page.url == f"{base}/console/onboardings/{onboarding_id}"
            timeline = page.locator("#timeline")
            await timeline.get_by_text("Attend les données de la société").wait_for()
            await checker.check("client-waiting")
            await page.evaluate("window.stillTheSamePage = true")

            given = await site.post(
                f"/v1/onboardings/{onboarding_id}/company-details",
                json={"name": "Boulangerie Dupont", "city": "Lyon"},
                headers=tenant.auth,
            )
            assert given.status_code == 200, given.text
            await timeline.get_by_text("Prêt").wait_for(timeout=20_000)
            assert await page.evaluate("window.stillTheSamePage") is True
            assert checker.csp_reports == []
        finally:
            await browser.close()


async def test_second_factor_pages_in_chromium(
    site: httpx.AsyncClient, smtp_sink: SmtpSink, tenant: Tenant, settings: Settings
) -> None:
    """Turning on two-step verification, then signing in with a code: accessible pages."""
    executable = require_chromium()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = settings.public_base_url
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        try:
            context = await browser.new_context(
                viewport={"width": WIDTHS[0], "height": 900}, locale="fr-FR"
            )
            page = await context.new_page()
            checker = Checker(page)
            await page.goto(f"{base}/console/sign-in")
            await _sign_in(page, smtp_sink, tenant.admin.email, base)
            await page.get_by_role("link", name="Validation en deux étapes").click()
            await checker.check("two-factor-setup")
            secret = await page.locator("#totp-key").inner_text()
            step = totp.step_at(time.time())
            await page.get_by_label("Code").fill(totp.code_for_step(secret, step))
            await page.get_by_role("button", name="Activer la validation en deux étapes").click()
            await page.get_by_text("La validation en deux étapes est active").wait_for()

            await page.get_by_role("button", name="Se déconnecter").click()
            await _sign_in(page, smtp_sink, tenant.admin.email, base)
            await page.get_by_role("heading", name="Validation en deux étapes").wait_for()
            await checker.check("two-factor")
            await page.get_by_label("Code").fill(totp.code_for_step(secret, step + 1))
            await page.get_by_role("button", name="Continuer").click()
            await page.get_by_role("heading", name="Mes clients").wait_for()
            assert checker.csp_reports == []
        finally:
            await browser.close()
