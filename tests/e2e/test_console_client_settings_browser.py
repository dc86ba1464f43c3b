"""The client page's settings after day one in a real browser (Debian's Chromium driven by
Playwright over the real stack, as tests/e2e/test_console_browser.py does): an administrator
changes the subscription, adds the next fiscal year and a collaborator, then erases the client
through its confirmation page. Every page is checked with axe (no serious or critical violation)
and screenshotted at 1280 and 390 pixels wide to
test-artifacts/screenshots/console-client-settings-*.png."""

from __future__ import annotations

import httpx
import pytest
from temporalio.worker import Worker

from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from store import clients, erasure, partners
from store.pool import Pool
from tests.console_helpers import PLANS, ready_client
from tests.e2e.browser_helpers import _browser, site, site_port
from tests.factories import Tenant

pytestmark = pytest.mark.e2e

__all__ = ["site", "site_port"]  # the served app's fixtures, shared with the console's test


@pytest.fixture
def settings(settings: Settings, site_port: int) -> Settings:
    """The test settings, with e-mails linking to the site served."""
    return settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{site_port}"})


async def test_subscription_fiscal_year_collaborator_and_erasure_in_chromium(
    site: httpx.AsyncClient,
    worker: Worker,
    pool: Pool,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
) -> None:
    """From the client page: a wrong add-on comes back with its error, then Premium annual paid
    by the firm is in force; the proposed fiscal year is added; a colleague ticked is a
    collaborator; a wrong name does not erase, the right one does."""
    for plan in PLANS:
        assert (await site.post("/v1/plans", json=plan, headers=tenant.auth)).status_code == 201
    colleague = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email="bastien@cabinet.example",
        name="Bastien Comptable",
        role=Role.accountant,
    )
    assert colleague is not None
    client_id = await ready_client(pool, tenant)
    base = settings.public_base_url
    async with _browser(smtp_sink, tenant, base, f"/console/clients/{client_id}") as (
        page,
        checker,
    ):
        await page.get_by_role("heading", name="Abonnement").wait_for()
        await checker.check("client-settings-page")

        await page.get_by_label("Formule").select_option("premium")
        await page.get_by_label("Annuelle").check()
        await page.get_by_label("Le cabinet", exact=True).check()
        await page.get_by_role("button", name="Changer l'abonnement").click()
        await page.get_by_text(
            "Choisissez seulement des options de la formule choisie"
        ).first.wait_for()
        await checker.check("client-settings-subscription-error")
        await page.get_by_label("OCR").uncheck()
        await page.get_by_label("Payroll").check()
        # The firm pays: the pricing policy is confirmed (app/pricing.py).
        await page.get_by_label("Je confirme que le cabinet paie à ces prix").check()
        await page.get_by_role("button", name="Changer l'abonnement").click()
        await page.get_by_text("L'abonnement est changé.").wait_for()
        assert await page.locator("table tbody tr").count() == 2

        await page.get_by_role("button", name="Ajouter l'exercice").click()
        await page.get_by_text("L'exercice est ajouté").wait_for()
        assert await page.locator("#fiscal-years-list li").count() == 1

        await page.get_by_label("Bastien Comptable").check()
        await page.get_by_role("button", name="Enregistrer les collaborateurs").click()
        await page.get_by_text("Les collaborateurs sont enregistrés.").wait_for()
        assert "Bastien Comptable" in await page.locator("#collaborators-list").inner_text()
        await checker.check("client-settings-changed")

        await page.get_by_role("link", name="Effacer les données personnelles de ce client").click()
        await page.get_by_role(
            "heading", name="Effacer les données personnelles du client"
        ).wait_for()
        await checker.check("client-settings-erase")
        await page.get_by_label("Pour confirmer, tapez le nom du client").fill("Dubois")
        await page.get_by_role("button", name="Effacer les données personnelles").click()
        await page.get_by_text("Tapez le nom du client exactement").first.wait_for()
        await checker.check("client-settings-erase-error")
        assert await erasure.get(pool, client_id=client_id) is None
        await page.get_by_label("Pour confirmer, tapez le nom du client").fill("Dubois Conseil")
        await page.get_by_role("button", name="Effacer les données personnelles").click()
        await page.get_by_text("Les données personnelles du client sont effacées.").wait_for()
        await checker.check("client-settings-erased")
    assert await erasure.get(pool, client_id=client_id) is not None
    [who] = await clients.list_collaborator_users(pool, client_id=client_id)
    assert who.user_id == colleague.id
