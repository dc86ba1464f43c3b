"""The console's branding, webhooks and checklists pages in a real browser (Debian's Chromium
driven by Playwright over the real stack, as tests/e2e/test_console_browser.py does): an
administrator previews a new branding, then saves it; adds a webhook endpoint (the receiver of
tests/webhook_receiver.py) and redelivers its delivery; creates a checklist. Every page is
checked with axe (no serious or critical violation) and screenshotted at 1280 and 390 pixels
wide to test-artifacts/screenshots/console-branding-*.png, console-webhooks-*.png and
console-checklists-*.png."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import async_playwright

from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from store import onboardings
from store import webhooks as store
from store.pool import Pool
from tests.e2e.browser_helpers import (
    SCREENSHOTS,
    WIDTHS,
    Checker,
    _sign_in,
    require_chromium,
    site,
    site_port,
)
from tests.eventually import eventually
from tests.factories import Tenant, make_client
from tests.webhook_receiver import Receiver, receiving
from worker.webhooks import delivering

pytestmark = pytest.mark.e2e

__all__ = ["site", "site_port"]  # the served app's fixtures, shared with the console's test


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


@pytest.fixture
def settings(settings: Settings, site_port: int, receiver: Receiver) -> Settings:
    """E-mails link to the site served; the receiver's loopback port may be called, quickly."""
    port = receiver.base_url.rsplit(":", 1)[1]
    return settings.model_copy(
        update={
            "public_base_url": f"http://127.0.0.1:{site_port}",
            "outbound_allow_private_hosts": [f"127.0.0.1:{port}"],
            "webhook_backoff_base_seconds": 0.05,
            "webhook_poll_seconds": 0.05,
        }
    )


@contextlib.asynccontextmanager
async def _loop(pool: Pool, settings: Settings) -> AsyncIterator[None]:
    async with httpx.AsyncClient() as http, delivering(pool, http, settings):
        yield


async def test_administrator_sets_branding_webhooks_and_a_checklist_in_chromium(
    site: httpx.AsyncClient,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
    pool: Pool,
    receiver: Receiver,
) -> None:
    """Preview then save a branding; add an endpoint (its secret shown once) and redeliver its
    delivery; create a checklist from the form; every page accessible."""
    executable = require_chromium()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = settings.public_base_url
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable)
            try:
                context = await browser.new_context(
                    viewport={"width": WIDTHS[0], "height": 900}, locale="fr-FR"
                )
                page = await context.new_page()
                checker = Checker(page)
                await page.goto(f"{base}/console/settings/branding")
                await _sign_in(page, smtp_sink, tenant.admin.email, base)

                # Branding: preview, nothing saved; then save.
                await page.get_by_role("heading", name="Image de marque").wait_for()
                await checker.check("branding")
                await page.get_by_label("Nom affiché").fill("Cabinet Lumière")
                await page.get_by_label("Couleur").fill("bleu")
                await page.get_by_role("button", name="Aperçu").click()
                await page.get_by_role("link", name="Saisissez une couleur").first.wait_for()
                await checker.check("branding-error")
                await page.get_by_label("Couleur").fill("#7C2D12")
                await page.get_by_role("button", name="Aperçu").click()
                framed = page.frame_locator('iframe[title="La page d\'invitation"]')
                await framed.get_by_text("Cabinet Lumière").first.wait_for()
                stored = (await site.get("/v1/branding", headers=tenant.auth)).json()
                assert stored["display_name"] != "Cabinet Lumière"
                await checker.check("branding-preview")
                await page.get_by_role("button", name="Enregistrer l'image de marque").click()
                await page.get_by_text("image de marque est enregistrée").wait_for()
                stored = (await site.get("/v1/branding", headers=tenant.auth)).json()
                assert stored["colour"] == "#7C2D12"

                # Webhooks: add the receiver's endpoint, see its delivery, redeliver it.
                await page.get_by_role("link", name="Webhooks").click()
                await page.get_by_label("Adresse du point de réception").fill(receiver.url())
                await page.get_by_label("onboarding.ready").check()
                await checker.check("webhooks")
                await page.get_by_role("button", name="Ajouter le point de réception").click()
                secret = await page.get_by_label("Secret de signature").input_value()
                assert secret.startswith("whsec_")
                await checker.check("webhooks-secret")
                async with _loop(pool, settings):
                    onboarding_id, _ = await make_client(pool, tenant, name="Moreau & Fils")
                    await onboardings.set_status(pool, onboarding_id=onboarding_id, status="READY")
                    await receiver.wait_for(1)
                    await page.get_by_role("link", name="Voir le point de réception").click()

                    async def delivered() -> bool:
                        if await page.get_by_text("Remis").count():
                            return True
                        await page.reload()
                        return False

                    await eventually(delivered, what="the delivery shown", within=10, every=0.1)
                    await checker.check("webhooks-deliveries")
                    await page.get_by_role("button", name="Renvoyer").click()
                    await page.get_by_text("L'événement va être renvoyé sous peu.").wait_for()
                    got = await receiver.wait_for(2)
                assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
                await checker.check("webhooks-redelivered")

                # Checklists: a new one from the form.
                await page.get_by_role("link", name="Listes de pièces").click()
                await page.get_by_role("link", name="Nouvelle liste").click()
                await page.get_by_label("Nom de la liste").fill("Bilan annuel")
                await page.locator("#item-0-label").fill("Relevés bancaires")
                await page.locator("#item-0-kind").select_option("document")
                await page.locator("#item-1-label").fill("Votre régime de TVA ?")
                await checker.check("checklists-new")
                await page.get_by_role("button", name="Ajouter la liste").click()
                await page.get_by_text("La liste est ajoutée.").wait_for()
                await page.get_by_role("link", name="Bilan annuel").wait_for()
                await checker.check("checklists")
                made = (await site.get("/v1/checklists", headers=tenant.auth)).json()["items"]
                assert [i["kind"] for i in made[0]["items"]] == ["document", "question"]
                assert checker.csp_reports == []
            finally:
                await browser.close()
    finally:
        rows, _ = await store.list_endpoints(pool, partner_id=tenant.partner.id, limit=50, offset=0)
        for row in rows:
            await store.delete_endpoint(pool, partner_id=tenant.partner.id, endpoint_id=row.id)
    for name in checker.shots:
        assert (SCREENSHOTS / name).stat().st_size > 1000, name
