"""The Imports page in a real browser (Debian's Chromium driven by Playwright over the real stack,
as tests/e2e/test_console_browser.py does): a firm administrator uploads a 50-row CSV, reads the
dry-run report, confirms, and watches the progress bar reach the end without reloading (issue
22's acceptance line), then downloads the report. Every page is checked with axe (no serious or
critical violation) and screenshotted at 1280 and 390 pixels wide to
test-artifacts/screenshots/console-imports-*.png.
"""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from playwright.async_api import FilePayload, async_playwright
from temporalio.worker import Worker

from core.settings import Settings
from devstack.registry_standin import RegistryStandin
from devstack.smtp_sink import SmtpSink
from devstack.synthetic_companies import synthetic_units
from tests.e2e.browser_helpers import (
    SCREENSHOTS,
    WIDTHS,
    Checker,
    _sign_in,
    require_chromium,
    settings,
    site,
    site_port,
)
from tests.factories import Tenant
from tests.import_files import client_list, french_csv

pytestmark = pytest.mark.e2e

__all__ = ["settings", "site", "site_port"]  # the served app's fixtures, shared

ROWS = 50


@pytest.mark.timeout(300)
async def test_fifty_row_csv_imported_in_chromium_progress_reaches_the_end(
    site: httpx.AsyncClient,
    worker: Worker,
    registry: RegistryStandin,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
) -> None:
    """Upload (an empty upload first: its error), the report names row 27's SIRET, Confirm,
    the bar fills to 49 of 49 with the page never reloaded, and the report downloads."""
    executable = require_chromium()
    units = synthetic_units(ROWS, start=30_000)
    registry.add_units(units)
    clients = client_list([u["siege"]["siret"] for u in units], bad_rows=1)
    data = french_csv(clients.rows)
    base = settings.public_base_url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        try:
            context = await browser.new_context(
                viewport={"width": WIDTHS[0], "height": 900}, locale="fr-FR", accept_downloads=True
            )
            page = await context.new_page()
            checker = Checker(page)
            await page.goto(f"{base}/console/imports")
            await _sign_in(page, smtp_sink, tenant.admin.email, base)
            await page.get_by_role("heading", name="Importer une liste de clients").wait_for()
            await page.get_by_role("link", name="Imports").first.wait_for()
            await checker.check("imports-empty")

            await page.get_by_role("button", name="Vérifier le fichier").click()
            await page.get_by_role("heading", name="Il y a un problème").wait_for()
            await checker.check("imports-error")

            await page.get_by_label("Fichier").set_input_files(
                files=FilePayload(name="clients.csv", mimeType="text/csv", buffer=data)
            )
            await page.get_by_role("button", name="Vérifier le fichier").click()
            await page.get_by_role("heading", name="Vérification de clients.csv").wait_for()
            summary = await page.locator("#import-summary").inner_text()
            assert "50 ligne(s) lue(s) : 49 valide(s), 1 en erreur." in summary
            errors = await page.locator("#row-errors tbody").inner_text()
            assert "27" in errors and "SIRET" in errors
            await checker.check("imports-report")

            await page.get_by_role("button", name="Confirmer : intégrer 49 client(s)").click()
            await page.get_by_role("heading", name="Import de clients.csv").wait_for()
            # A mark on this very document: a reload or a navigation would wipe it.
            await page.evaluate("window.stayed = true")
            await checker.check("imports-progress")
            await page.wait_for_function(
                "() => { const bar = document.getElementById('import-bar');"
                " return bar && bar.max === 49 && bar.value === 49"
                " && document.getElementById('download-report') !== null; }",
                timeout=240_000,
            )
            assert await page.evaluate("window.stayed === true")
            assert await page.locator("#import-state").inner_text() == "L'import est terminé."
            assert await page.locator("#count-ready").inner_text() == "49"
            await checker.check("imports-done")

            async with page.expect_download() as download_info:
                await page.locator("#download-report").click()
            download = await download_info.value
            path = await download.path()
            report = path.read_text(encoding="utf-8-sig")
            outcomes = [r[1] for r in csv.reader(io.StringIO(report))][1:]
            assert outcomes.count("READY") == 49 and outcomes.count("invalid") == 1

            await page.get_by_role("link", name="Retour aux imports").click()
            await page.get_by_role("link", name="clients.csv").wait_for()
            await checker.check("imports-list")
            assert checker.csp_reports == []
        finally:
            await browser.close()
    for name in checker.shots:
        assert (SCREENSHOTS / name).stat().st_size > 1000, name
