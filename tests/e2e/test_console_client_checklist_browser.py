"""The client page's checklist part and Settings > New clients' notifications in a real browser
(Debian's Chromium driven by Playwright over the real stack): an administrator switches the
firm's default off, assigns a checklist to a client, replaces it, is stopped withdrawing it
without the confirmation box, then withdraws it. Every page is checked with axe (no serious or
critical violation) and screenshotted at 1280 and 390 pixels wide to
test-artifacts/screenshots/console-checklist-*.png."""

from __future__ import annotations

import httpx
import pytest
from temporalio.worker import Worker

from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from store import checklists, partners
from store.pool import Pool
from tests.console_helpers import ready_client
from tests.e2e.browser_helpers import _browser, site, site_port
from tests.factories import Tenant

pytestmark = pytest.mark.e2e

__all__ = ["site", "site_port"]  # the served app's fixtures, shared with the console's test


@pytest.fixture
def settings(settings: Settings, site_port: int) -> Settings:
    """The test settings, with e-mails linking to the site served."""
    return settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{site_port}"})


def _checklist(name: str) -> dict[str, object]:
    return {
        "name": name,
        "language": "fr",
        "items": [{"key": "bank", "kind": "document", "label": "Relevés bancaires"}],
    }


async def test_checklist_assigned_replaced_withdrawn_and_default_set_in_chromium(
    site: httpx.AsyncClient,
    worker: Worker,
    pool: Pool,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
) -> None:
    """Settings: the default unticked and saved. Client page: "Bilan annuel" assigned, then
    replaced by "TVA trimestrielle"; withdrawing without the box says so next to it; with it,
    the client has none."""
    await partners.set_new_clients_muted(pool, partner_id=tenant.partner.id, muted=True)
    for name in ("Bilan annuel", "TVA trimestrielle"):
        made = await site.post("/v1/checklists", json=_checklist(name), headers=tenant.auth)
        assert made.status_code == 201, made.text
    client_id = await ready_client(pool, tenant)
    base = settings.public_base_url
    async with _browser(smtp_sink, tenant, base, "/console/settings/notifications") as (
        page,
        checker,
    ):
        await page.get_by_role("heading", name="Notifications des nouveaux clients").wait_for()
        await checker.check("checklist-notifications-default")
        await page.get_by_label(
            "Laisser coupées les notifications des nouveaux clients jusqu'à leur activation"
        ).uncheck()
        await page.get_by_role("button", name="Enregistrer").click()
        await page.get_by_text("Le réglage est enregistré.").wait_for()

        await page.goto(f"{base}/console/clients/{client_id}")
        await page.get_by_role("heading", name="La liste du dirigeant").wait_for()
        await checker.check("checklist-none")
        await page.get_by_label("Liste du catalogue du cabinet").select_option(label="Bilan annuel")
        await page.get_by_role("button", name="Attribuer la liste").click()
        await page.get_by_text("La liste est attribuée.").wait_for()
        assert "Bilan annuel" in await page.locator("#client-checklist-current").inner_text()
        await page.get_by_label("Liste du catalogue du cabinet").select_option(
            label="TVA trimestrielle"
        )
        await page.get_by_role("button", name="Remplacer la liste").click()
        await page.get_by_text("La liste est attribuée.").wait_for()
        assert "TVA trimestrielle" in await page.locator("#client-checklist-current").inner_text()
        await checker.check("checklist-assigned")

        await page.get_by_role("button", name="Retirer la liste").click()
        await page.get_by_text("Cochez la case pour confirmer").first.wait_for()
        await checker.check("checklist-withdraw-error")
        await page.get_by_label("Oui, la retirer").check()
        await page.get_by_role("button", name="Retirer la liste").click()
        await page.get_by_text("La liste est retirée.").wait_for()
        await checker.check("checklist-withdrawn")
    assert not await partners.new_clients_muted(pool, partner_id=tenant.partner.id)
    assert (
        await checklists.get_assigned(pool, partner_id=tenant.partner.id, client_id=client_id)
        is None
    )
