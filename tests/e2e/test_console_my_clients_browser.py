"""The clients list's "My clients / All clients" choice in a real browser (Debian's Chromium
driven by Playwright over the real stack, as tests/e2e/test_console_browser.py does): a user who
collaborates on some of the firm's clients lands on those, moves to every client and back with
the keyboard-reachable links, searches within "My clients", and exports what they see. Every
page is checked with axe (no serious or critical violation) and screenshotted at 1280 and 390
pixels wide to test-artifacts/screenshots/console-my-clients-*.png."""

from __future__ import annotations

import httpx
import pytest

from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from store.pool import Pool
from tests.api_helpers import make_team
from tests.e2e.browser_helpers import _browser, site, site_port
from tests.factories import Tenant

pytestmark = pytest.mark.e2e

__all__ = ["site", "site_port"]  # the served app's fixtures, shared with the console's test


@pytest.fixture
def settings(settings: Settings, site_port: int) -> Settings:
    """The test settings, with e-mails linking to the site served."""
    return settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{site_port}"})


async def test_my_clients_then_all_clients_then_a_search_in_mine_in_chromium(
    site: httpx.AsyncClient, pool: Pool, smtp_sink: SmtpSink, tenant: Tenant, settings: Settings
) -> None:
    """The list opens on the two clients the administrator collaborates on; "Tous les
    clients" shows the third; back on "Mes clients", a search keeps the choice (the address
    says show=mine) and the export link carries it."""
    await make_team(pool, tenant)
    base = settings.public_base_url
    async with _browser(smtp_sink, tenant, base, "/console/clients") as (page, checker):
        await page.get_by_role("heading", name="Mes clients").wait_for()
        rows = page.locator("table tbody tr")
        choice = page.get_by_role("navigation", name="Quels clients")
        assert await rows.count() == 2
        assert "Cordonnerie Seule" not in await page.locator("table").inner_text()
        mine = choice.get_by_role("link", name="Mes clients")
        assert await mine.get_attribute("aria-current") == "page"
        await checker.check("my-clients-mine")

        await choice.get_by_role("link", name="Tous les clients").click()
        await page.wait_for_url("**/console/clients?show=all")
        assert await rows.count() == 3
        await checker.check("my-clients-all")

        await choice.get_by_role("link", name="Mes clients").click()
        await page.wait_for_url("**/console/clients?show=mine")
        await page.get_by_label("Rechercher").fill("boulangerie")
        await page.get_by_label("Rechercher").press("Enter")
        await page.wait_for_url("**q=boulangerie**")
        assert "show=mine" in page.url
        assert await rows.count() == 1
        assert "Boulangerie Partagée" in await rows.first.inner_text()
        export = await page.locator("#export-clients").get_attribute("href")
        assert export is not None and "show=mine" in export and "q=boulangerie" in export
        await checker.check("my-clients-searched")
