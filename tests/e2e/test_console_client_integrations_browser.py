"""The client page's integrations in a real browser (Debian's Chromium driven by Playwright over
the real stack and worker, the partner-app stand-in behind the app): an administrator adds an
app with its token, changes its region, then removes it after a forgotten confirmation. Every
page is checked with axe (no serious or critical violation) and screenshotted at 1280 and 390
pixels wide to test-artifacts/screenshots/console-client-integrations-*.png."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Page
from temporalio.worker import Worker

from core.settings import Settings
from devstack.partner_app import DISCONNECT_PATH, PartnerApp
from devstack.smtp_sink import SmtpSink
from store import applied_setup
from store.pool import Pool
from tests.activity_helpers import SECRET
from tests.api.integration_helpers import crm
from tests.console_helpers import ready_client
from tests.e2e.browser_helpers import _browser, site, site_port
from tests.eventually import eventually
from tests.factories import Tenant

pytestmark = pytest.mark.e2e

__all__ = ["site", "site_port"]  # the served app's fixtures, shared with the console's test


@pytest.fixture
async def partner_app() -> AsyncIterator[PartnerApp]:
    async with PartnerApp() as app:
        yield app


@pytest.fixture
def settings(settings: Settings, site_port: int, partner_app: PartnerApp) -> Settings:
    """The test settings, with e-mails linking to the site served and the worker allowed to
    call the stand-in (as the dev stack allows its own)."""
    return settings.model_copy(
        update={
            "public_base_url": f"http://127.0.0.1:{site_port}",
            "outbound_allow_private_hosts": [f"127.0.0.1:{partner_app.port}"],
        }
    )


async def _until_state(page: Page, code: str, words: str) -> None:
    """Reload the client page until the app's line says `words` (the workflow's outcome)."""
    line = page.locator(f"#integration-{code}")

    async def shown() -> str:
        await page.reload()
        return await line.inner_text()

    await eventually(shown, what=f"the app's line saying {words!r}", until=lambda t: words in t)


async def test_add_reconfigure_and_remove_an_integration_in_chromium(
    site: httpx.AsyncClient,
    worker: Worker,
    pool: Pool,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
    partner_app: PartnerApp,
) -> None:
    """From the client page: CRM Pro added with its token is connected; its region changed
    (the token field left empty) reconnects it; Remove without the box ticked says so, with it
    the app is disconnected once."""
    client_id = await ready_client(pool, tenant)
    code = await crm(pool, tenant, partner_app)
    base = settings.public_base_url
    async with _browser(smtp_sink, tenant, base, f"/console/clients/{client_id}") as (
        page,
        checker,
    ):
        await page.get_by_role("heading", name="Intégrations").wait_for()
        await page.get_by_text("Ajouter CRM Pro").click()
        await checker.check("client-integrations-add")
        form = page.locator(f"#ci_add_{code}")
        await form.get_by_label("region").fill("eu")
        await form.get_by_label("token").fill(SECRET)
        await page.get_by_role("button", name="Connecter CRM Pro").click()
        await page.get_by_text("L'intégration est en cours de connexion.").wait_for()
        await _until_state(page, code, "connectée")
        assert SECRET not in await page.content()
        await checker.check("client-integrations-connected")

        await page.get_by_text("Modifier ou supprimer CRM Pro").click()
        edit = page.locator(f"#ci_edit_{code}")
        await edit.get_by_label("region").fill("us")
        await page.get_by_role("button", name="Enregistrer et reconnecter CRM Pro").click()
        await page.get_by_text("L'intégration est reconnectée").wait_for()
        await _until_state(page, code, "region = us")

        await page.get_by_text("Modifier ou supprimer CRM Pro").click()
        await page.get_by_role("button", name="Supprimer CRM Pro").click()
        await page.get_by_text("Cochez la case pour confirmer la suppression").first.wait_for()
        await checker.check("client-integrations-remove-error")
        await page.get_by_label("Oui, déconnecter le client de CRM Pro").check()
        await page.get_by_role("button", name="Supprimer CRM Pro").click()
        await page.get_by_text("L'intégration est en cours de suppression.").wait_for()
        await _until_state(page, code, "supprimée")
        await checker.check("client-integrations-removed")
    assert len([r for r in partner_app.requests if r.path == DISCONNECT_PATH]) == 1
    row = await applied_setup.get_integration(pool, client_id=client_id, code=code)
    assert row is not None and row.state == "removed"
