"""The client page's company record, national numbers and documents tree in a real browser
(Debian's Chromium driven by Playwright over the real stack and the registry stand-in): an
administrator corrects the company's address, looks the company up again and applies the
registry's new name, changes the client's national number (a wrong check digit first), then
opens the folders of each fiscal year. Every page is checked with axe (no serious or critical
violation) and screenshotted at 1280 and 390 pixels wide to
test-artifacts/screenshots/console-client-records-*.png."""

from __future__ import annotations

import httpx
import pytest

from core.settings import Settings
from devstack.registry_standin import RegistryStandin
from devstack.smtp_sink import SmtpSink
from store import clients
from store.pool import Pool
from tests.api.client_records_helpers import created_client, danone_as_registered
from tests.e2e.browser_helpers import _browser, site, site_port
from tests.factories import Tenant
from tests.workflow_helpers import onboarded_client

pytestmark = pytest.mark.e2e

__all__ = ["site", "site_port"]  # the served app's fixtures, shared with the console's test


@pytest.fixture
def settings(settings: Settings, site_port: int) -> Settings:
    """The test settings, with e-mails linking to the site served."""
    return settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{site_port}"})


async def test_company_record_national_numbers_and_documents_in_chromium(
    site: httpx.AsyncClient,
    pool: Pool,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
    registry: RegistryStandin,
) -> None:
    """A person corrects the address, sees what changed at the registry and applies the new
    name, fixes a mistyped national number, and finds the twelve month folders of the year."""
    client_id = await created_client(
        pool, tenant, company=danone_as_registered(name="DANONE ANCIEN NOM")
    )
    base = settings.public_base_url
    async with _browser(smtp_sink, tenant, base, f"/console/clients/{client_id}") as (
        page,
        checker,
    ):
        await page.get_by_role("heading", name="La fiche du registre").wait_for()
        await checker.check("client-records-page")

        await page.get_by_label("Adresse", exact=True).fill("17 bd Haussmann, 75009 Paris")
        await page.get_by_role("button", name="Enregistrer les corrections").click()
        await page.get_by_text("Les données de la société sont enregistrées.").wait_for()
        assert "17 bd Haussmann" in await page.locator("#company-corrections").inner_text()

        await page.get_by_role("button", name="Consulter à nouveau le registre").click()
        await page.get_by_text("Le registre a été consulté à nouveau.").wait_for()
        await checker.check("client-records-relookup")
        await page.get_by_role("button", name="Appliquer : Nom").click()
        await page.get_by_text("Les données de la société sont enregistrées.").wait_for()
        assert "DANONE" == (await page.locator("h1").inner_text()).strip()

        number = page.get_by_label("Numéro national du client")
        await number.fill("90010100124")
        await page.get_by_role("button", name="Enregistrer les numéros nationaux").click()
        await page.get_by_text("Saisissez un numéro national belge").first.wait_for()
        await checker.check("client-records-national-number-error")
        await number.fill("90.01.01-001.23")
        await page.get_by_role("button", name="Enregistrer les numéros nationaux").click()
        await page.get_by_text("Les numéros nationaux sont enregistrés.").wait_for()
        assert "90010100123" in await page.locator("#national-numbers").inner_text()

    row = await clients.get(pool, client_id=client_id)
    assert row is not None and row.name == "DANONE"
    assert row.company is not None and row.company["address"] == "17 bd Haussmann, 75009 Paris"

    documented = await onboarded_client(pool, tenant)
    async with _browser(smtp_sink, tenant, base, f"/console/clients/{documented}") as (
        page,
        checker,
    ):
        await page.get_by_text("12 dossiers mensuels sur 12").wait_for()
        await page.get_by_role("link", name="Voir les dossiers de chaque exercice").click()
        await page.get_by_role("heading", name="Documents").wait_for()
        months = page.locator("ul.folder-tree li > span.small", has_text="(mois)")
        assert await months.count() == 12
        await checker.check("client-records-documents")
