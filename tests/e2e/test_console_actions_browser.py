"""The client page's actions and the needs-attention page in a real browser (Debian's Chromium
driven by Playwright over the real stack, as tests/e2e/test_console_browser.py does): switching
notifications on for a client kept muted sends its invitation; cancel, then resend once expired;
the needs-attention page lists a client waiting for company details, given from its page. Every
page is checked with axe (no serious or critical violation) and screenshotted at 1280 and 390
pixels wide to test-artifacts/screenshots/console-client-actions-*.png and console-attention-*.png.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Page
from temporalio.worker import Worker

from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from tests.e2e.browser_helpers import (
    BODY,
    _browser,
    site,
    site_port,
)
from tests.eventually import eventually
from tests.factories import Tenant

pytestmark = pytest.mark.e2e

__all__ = ["site", "site_port"]  # the served app's fixtures, shared with the console's test

# The resend test's invitation expires seconds after it is sent, so its resend can be shown
# within a test. Only there: a page that must show an invitation sent could otherwise show it
# expired already on a loaded machine.
EXPIRY_SECONDS = 3.0
# A SIRET the registry stand-in does not know: the onboarding waits for company details.
UNKNOWN_SIRET = "73282932000074"


@pytest.fixture
def expiry_days() -> float:
    """An invitation's life: the settings' own, unless the test is parametrized with another."""
    return float(Settings.model_fields["invitation_expiry_days"].default)


@pytest.fixture
def settings(settings: Settings, site_port: int, expiry_days: float) -> Settings:
    """The test settings, with e-mails linking to the site served, and the invitation's life."""
    return settings.model_copy(
        update={
            "public_base_url": f"http://127.0.0.1:{site_port}",
            "invitation_expiry_days": expiry_days,
        }
    )


async def _start(site: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]) -> str:
    started = await site.post(
        "/v1/onboardings",
        json=body,
        headers={"Idempotency-Key": f"console-actions-{uuid.uuid4()}", **tenant.auth},
    )
    assert started.status_code == 202, started.text
    return str(started.json()["id"])


async def _until(
    site: httpx.AsyncClient,
    tenant: Tenant,
    onboarding_id: str,
    *,
    status: str | None = None,
    invitation: str | None = None,
) -> None:

    async def view() -> dict[str, Any]:
        answer = await site.get(f"/v1/onboardings/{onboarding_id}", headers=tenant.auth)
        body: dict[str, Any] = answer.json()
        return body

    await eventually(
        view,
        until=lambda v: (
            status in (None, v.get("status"))
            and invitation in (None, v.get("invitation", {}).get("state"))
        ),
        what=f"the onboarding {status or ''} with its invitation {invitation or ''}",
        within=20,
    )


async def _until_shown(page: Page, state: str) -> None:
    """Reload the client page until its invitation shows `state` (the workflow reports it)."""

    async def shown() -> str:
        await page.reload()
        return await page.locator("#invitation-state").inner_text()

    await eventually(
        shown, until=lambda s: s == state, what=f"the page showing {state}", within=10, every=0.1
    )


async def test_notifications_switched_on_in_chromium_send_the_invitation(
    site: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
) -> None:
    """A client kept muted: its page says the invitation is held; the switch sends it."""
    body = {**BODY, "notifications": {"keep_muted": True}, "invitation": {"mode": "immediate"}}
    onboarding_id = await _start(site, tenant, body)
    await _until(site, tenant, onboarding_id, status="WAITING_FOR_UNMUTE")
    base = settings.public_base_url
    async with _browser(smtp_sink, tenant, base, f"/console/onboardings/{onboarding_id}") as (
        page,
        checker,
    ):
        await page.get_by_text("Retenue : notifications coupées").wait_for()
        await checker.check("client-actions-muted")
        smtp_sink.handler.clear()
        await page.get_by_role("button", name="Activer les notifications").click()
        await page.get_by_text("Les notifications sont activées.").wait_for()
        [mail] = await smtp_sink.handler.arrived(1)
        assert mail.rcpt_tos == ["elodie@lefevre.example"]
        await _until_shown(page, "Envoyée")
        assert await page.locator("#notifications-state").inner_text() == "Actives"
        await checker.check("client-actions-unmuted")


@pytest.mark.parametrize("expiry_days", [EXPIRY_SECONDS / 86_400], ids=["expiring"])
async def test_cancel_then_resend_in_chromium(
    site: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
) -> None:
    """Cancel a waiting invitation, send it, and once it expired send a new one."""
    onboarding_id = await _start(site, tenant, BODY)
    await _until(site, tenant, onboarding_id, invitation="waiting_manual")
    base = settings.public_base_url
    async with _browser(smtp_sink, tenant, base, f"/console/onboardings/{onboarding_id}") as (
        page,
        checker,
    ):
        await page.get_by_text("À envoyer").wait_for()
        await page.get_by_role("button", name="Annuler l'invitation").click()
        await page.get_by_text("L'invitation est annulée : elle ne sera pas envoyée.").wait_for()
        await _until_shown(page, "Annulée")
        await checker.check("client-actions-cancelled")
        smtp_sink.handler.clear()
        await page.get_by_role("button", name="Envoyer l'invitation maintenant").click()
        await page.get_by_text("L'invitation est en cours d'envoi.").wait_for()
        await smtp_sink.handler.arrived(1)
        await _until_shown(page, "Expirée")
        await checker.check("client-actions-expired")
        await page.get_by_role("button", name="Envoyer une nouvelle invitation").click()
        await page.get_by_text("Une nouvelle invitation part.").wait_for()
        arrived = await smtp_sink.handler.arrived(3)  # first, the staff's expiry notice, new one
        assert [m.rcpt_tos for m in arrived].count(["elodie@lefevre.example"]) == 2
        await _until_shown(page, "Envoyée")
        await checker.check("client-actions-resent")


async def test_needs_attention_leads_to_giving_company_details_in_chromium(
    site: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
) -> None:
    """The page lists the onboarding waiting for company details; from its page, a bad SIRET
    comes back with its error, then the details let it reach READY."""
    body = {**BODY, "client": {**BODY["client"], "siret": UNKNOWN_SIRET}}
    onboarding_id = await _start(site, tenant, body)
    await _until(site, tenant, onboarding_id, status="AWAITING_COMPANY_DETAILS")
    base = settings.public_base_url
    async with _browser(smtp_sink, tenant, base, "/console/clients") as (page, checker):
        await page.get_by_role("link", name="À traiter").click()
        await page.get_by_role("heading", name="À traiter", level=1).wait_for()
        section = page.locator("#attention-details")
        row = section.locator(f'a[href="/console/onboardings/{onboarding_id}"]')
        await row.wait_for()
        await checker.check("attention")
        await page.get_by_label("Sans changement depuis plus de").select_option("1h")
        await page.get_by_role("button", name="Afficher").click()
        await page.wait_for_url(f"{base}/console/attention?age=1h")
        await checker.check("attention-1h")

        await (
            page.locator("#attention-details")
            .locator(f'a[href="/console/onboardings/{onboarding_id}"]')
            .click()
        )
        await page.get_by_role("heading", name="Informations de l'entreprise").wait_for()
        await page.get_by_label("Raison sociale").fill("Boulangerie Dupont")
        await page.get_by_label("SIRET").fill("12345678901234")
        await page.get_by_role("button", name="Donner les informations").click()
        await page.get_by_text("Saisissez un SIRET valable (14 chiffres)").first.wait_for()
        assert await page.get_by_label("Raison sociale").input_value() == "Boulangerie Dupont"
        await checker.check("client-actions-details-error")
        await page.get_by_label("SIRET").fill("")
        await page.get_by_role("button", name="Donner les informations").click()
        await page.get_by_text("Les informations de l'entreprise sont données").wait_for()
        await page.locator("#timeline").get_by_text("Prêt").wait_for(timeout=20_000)
        await checker.check("client-actions-details-given")
