"""Prices and who pays in a real browser (Debian's Chromium driven by Playwright over the real
stack, as tests/e2e/test_console_client_settings_browser.py does): an administrator reads a
client's monthly cost, makes the firm pay for it, is stopped by the box left unticked, ticks it
beside the cost and is through; the billing defaults ask the same. Every page is checked with axe
(no serious or critical violation) and screenshotted at 1280 and 390 pixels wide to
test-artifacts/screenshots/console-prices-*.png."""

from __future__ import annotations

import httpx
import pytest

from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from store import subscriptions
from store.pool import Pool
from tests.console_helpers import ready_client
from tests.console_prices_helpers import PLANS
from tests.e2e.browser_helpers import _browser, site, site_port
from tests.factories import Tenant

pytestmark = pytest.mark.e2e

__all__ = ["site", "site_port"]  # the served app's fixtures, shared with the console's test

CONFIRM = "Je confirme que le cabinet paie à ces prix"
REFUSED = "Cochez la case pour confirmer que le cabinet paie à ces prix"


@pytest.fixture
def settings(settings: Settings, site_port: int) -> Settings:
    """The test settings, with e-mails linking to the site served."""
    return settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{site_port}"})


async def test_firm_pays_only_once_the_prices_are_confirmed_in_chromium(
    site: httpx.AsyncClient,
    pool: Pool,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
) -> None:
    """On the client page: the cost read (34,00 € a month), Premium annual paid by the firm
    refused until the box beside its cost is ticked, then in force; the billing defaults the
    same."""
    for plan in PLANS:
        assert (await site.post("/v1/plans", json=plan, headers=tenant.auth)).status_code == 201
    client_id = await ready_client(pool, tenant)
    base = settings.public_base_url
    async with _browser(smtp_sink, tenant, base, f"/console/clients/{client_id}") as (
        page,
        checker,
    ):
        await page.get_by_role("heading", name="Prix").wait_for()
        assert "34,00 € par mois" in await page.locator("#monthly-cost").inner_text()
        await checker.check("prices-client")

        await page.get_by_label("Formule").select_option("premium")
        await page.get_by_label("OCR").uncheck()
        await page.get_by_label("Annuelle").check()
        await page.get_by_label("Le cabinet", exact=True).check()
        await page.get_by_role("button", name="Changer l'abonnement").click()
        await page.get_by_text(REFUSED).first.wait_for()
        await checker.check("prices-refused")
        hint = await page.locator("#sub_pricing_acknowledged-hint").inner_text()
        assert "40,83 € par mois" in hint and "490,00 €" in hint
        await page.get_by_label(CONFIRM).check()
        await page.get_by_role("button", name="Changer l'abonnement").click()
        await page.get_by_text("L'abonnement est changé.").wait_for()
        await checker.check("prices-changed")

        await page.goto(f"{base}/console/settings/billing")
        await page.get_by_label("Le cabinet paie pour les nouveaux clients").check()
        await page.get_by_role("button", name="Enregistrer la facturation par défaut").click()
        await page.get_by_text(REFUSED).first.wait_for()
        await checker.check("prices-billing-refused")
        await page.get_by_label(CONFIRM).check()
        await page.get_by_role("button", name="Enregistrer la facturation par défaut").click()
        await page.get_by_role("status").wait_for()
    [_, revision] = (await subscriptions.history(pool, client_id=client_id, limit=5, offset=0))[0]
    assert (revision.plan, revision.payer) == ("premium", "partner")
