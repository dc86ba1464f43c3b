"""One firm administrator's day in the console, in a real browser (Debian's Chromium driven by
Playwright, over the real stack: uvicorn at the settings' public base URL, PostgreSQL, Temporal
worker, registry stand-in, SMTP sink).

Signed in from the e-mailed link, they add a client with a SIRET the registry knows and an
invitation scheduled a few days ahead through the New client form; find it in Clients under
"scheduled this week"; reschedule it, then send it now (the director's invitation lands in the
sink); make themselves a collaborator once setup is done, and open the client page from the link
of the `client_ready` e-mail in a signed-out browser (sign-in first, then that page); sign out,
and the cookie they had opens nothing any more. axe finds no serious or critical violation on any
page; screenshots go to test-artifacts/screenshots/console-story-*.png at 1280 and 390 wide.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Page, async_playwright
from temporalio.worker import Worker

from core.settings import Settings
from devstack.smtp_sink import Received, SmtpSink
from store import partners
from store.pool import Pool
from tests.e2e.browser_helpers import (  # noqa: F401
    SCREENSHOTS,
    WIDTHS,
    Checker,
    _sign_in,
    require_chromium,
    settings,
    site,
    site_port,
)

# The served site and its settings are the console browser test's own fixtures, used as they are.
from tests.eventually import eventually
from tests.factories import Tenant, make_client

pytestmark = pytest.mark.e2e

SIRET = "55203253400646"  # DANONE's head office in devstack/registry_fixture.json
DIRECTOR = "directrice@danone.example"
NEIGHBOUR = "Fromagerie Voisine"
CLIENT_PAGE = re.compile(r".*/console/clients/[0-9a-f-]{36}$")


def _local(moment: datetime) -> str:
    """A datetime-local field's value (minutes), as a person types it."""
    return moment.strftime("%Y-%m-%dT%H:%M")


async def _a_time_this_week(zone: ZoneInfo) -> datetime:
    """Three days ahead when that is still this week (Monday to Sunday, the firm's zone, as the
    filter counts), else the week's last minutes: the filter must find it either way."""
    now = datetime.now(zone)
    end = datetime.combine(
        now.date() + timedelta(days=6 - now.weekday()), datetime.min.time(), tzinfo=zone
    ) + timedelta(hours=23, minutes=58)
    if end - now < timedelta(minutes=3):  # too late in the week for any time in it
        await asyncio.sleep((end - now).total_seconds() + 180)
        return await _a_time_this_week(zone)
    return min(now + timedelta(days=3), end).replace(second=0, microsecond=0)


async def _mail_to(sink: SmtpSink, address: str) -> Received:
    """The first message the sink caught for this address, waiting for it without blocking
    the event loop the worker shares."""

    async def found() -> list[Received]:
        return [m for m in list(sink.handler.messages) if address in m.rcpt_tos]

    return (await eventually(found, what=f"an e-mail to {address}", within=20, every=0.1))[0]


async def _until_client_page(page: Page, name: str) -> None:
    """The onboarding's page leads to the client's once setup made it: reload as a person
    would until it does."""

    async def client_page() -> bool:
        if CLIENT_PAGE.match(page.url) and await page.get_by_role("heading", name=name).count():
            return True
        await page.reload()
        return False

    await eventually(client_page, what=f"the client's page of {name}", within=15, every=0.1)


async def test_administrator_schedules_finds_reschedules_sends_and_follows_a_staff_link(
    site: httpx.AsyncClient,  # noqa: F811
    worker: Worker,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,  # noqa: F811
    pool: Pool,
) -> None:
    """From the sign-in link to a scheduled client found, rescheduled, sent, reached again from
    its `client_ready` e-mail, then signed out for good; every page accessible."""
    executable = require_chromium()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = settings.public_base_url
    partner = await partners.get(pool, partner_id=tenant.partner.id)
    assert partner is not None
    zone = ZoneInfo(partner.time_zone)
    # A neighbour with no invitation scheduled: listed, but not under "scheduled this week".
    await make_client(pool, tenant, name=NEIGHBOUR)

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

            # Signed in from the e-mailed link.
            await page.goto(f"{base}/")
            await page.get_by_role("heading", name="Connexion").wait_for()
            await checker.check("story-sign-in")
            await _sign_in(page, smtp_sink, tenant.admin.email, base)
            await page.get_by_role("heading", name="Mes clients").wait_for()
            assert NEIGHBOUR in await page.inner_text("main table")
            await checker.check("story-clients")

            # A client with a SIRET and an invitation scheduled, through the form.
            await page.locator("#add-client").click()
            await page.get_by_role("heading", name="Nouveau client").wait_for()
            await page.fill("#first_name", "Camille")
            await page.fill("#last_name", "Roux")
            await page.fill("#email", DIRECTOR)
            await page.fill("#company_name", "Danone")
            await page.fill("#siret", SIRET)
            await page.check("#invitation_mode_scheduled")
            first_time = await _a_time_this_week(zone)
            await page.fill("#scheduled_at", _local(first_time))
            await checker.check("story-new-client")
            smtp_sink.handler.clear()
            await page.get_by_role("button", name="Démarrer l'onboarding").click()
            await page.wait_for_url(re.compile(r".*/console/(onboardings|clients)/[0-9a-f-]{36}$"))
            await _until_client_page(page, "Danone")
            client_url = page.url
            await page.get_by_text("Planifiée").first.wait_for()
            await checker.check("story-client-scheduled")

            # Found in Clients under "scheduled this week".
            await page.goto(f"{base}/console/clients")
            await page.check("#this_week")
            await page.get_by_role("button", name="Appliquer les filtres").click()
            await page.wait_for_url(re.compile(r".*this_week=1"))
            found = page.locator("main table").get_by_role("link", name="Danone")
            assert await found.count() == 1
            assert NEIGHBOUR not in await page.inner_text("main")
            await checker.check("story-clients-this-week")
            await found.click()
            await page.wait_for_url(client_url)

            # Rescheduled, then sent now: the director's invitation lands in the sink.
            later = (datetime.now(zone) + timedelta(days=5)).replace(second=0, microsecond=0)
            await page.fill("#scheduled_at", _local(later))
            await page.get_by_role("button", name="Replanifier l'invitation").click()
            await page.get_by_text("L'invitation est replanifiée.").wait_for()
            assert await page.locator("#invitation-state").inner_text() == "Planifiée"
            await checker.check("story-client-rescheduled")
            await page.get_by_role("button", name="Envoyer l'invitation maintenant").click()
            await page.get_by_text("L'invitation est en cours d'envoi.").wait_for()
            invitation = await _mail_to(smtp_sink, DIRECTOR)
            assert invitation.rcpt_tos == [DIRECTOR]
            await checker.check("story-client-sent")

            # Once set up, the administrator makes themselves a collaborator: told by e-mail.

            async def collaborators_form() -> int:
                await page.goto(client_url)
                return await page.get_by_role(
                    "button", name="Enregistrer les collaborateurs"
                ).count()

            await eventually(
                collaborators_form, what="the collaborators' form", within=15, every=0.1
            )
            await page.get_by_label(re.compile(re.escape(tenant.admin.email))).check()
            smtp_sink.handler.clear()
            await page.get_by_role("button", name="Enregistrer les collaborateurs").click()
            await page.get_by_text("Les collaborateurs sont enregistrés.").wait_for()
            await checker.check("story-client-collaborators")
            ready = await _mail_to(smtp_sink, tenant.admin.email)
            body = ready.message.get_body(preferencelist=("plain",))
            assert body is not None
            link = re.search(rf"{re.escape(base)}/console/\S+", body.get_content())
            assert link, body.get_content()

            # The e-mail's link in a browser signed out: sign-in first, then that client's page.
            fresh = await browser.new_context(
                viewport={"width": WIDTHS[0], "height": 900}, locale="fr-FR"
            )
            elsewhere = await fresh.new_page()
            other_checker = Checker(elsewhere)
            await elsewhere.goto(link.group(0))
            assert elsewhere.url.startswith(f"{base}/console/sign-in?next=")
            await other_checker.check("story-staff-link-sign-in")
            await _sign_in(elsewhere, smtp_sink, tenant.admin.email, base)
            await elsewhere.wait_for_url(client_url)
            await elsewhere.get_by_role("heading", name="Danone").wait_for()
            await other_checker.check("story-staff-link-client")
            await fresh.close()

            # Signed out: the cookie held before opens nothing any more.
            cookies = await context.cookies()
            await page.get_by_role("button", name="Se déconnecter").click()
            await page.get_by_text("Vous êtes déconnecté.").wait_for()
            await checker.check("story-signed-out")
            stale = await browser.new_context(locale="fr-FR")
            await stale.add_cookies(cookies)  # type: ignore[arg-type]  # the same dicts back
            again = await stale.new_page()
            await again.goto(client_url)
            assert again.url.startswith(f"{base}/console/sign-in?next=")
            await stale.close()
            assert dialogs == []
            assert checker.csp_reports == [] and other_checker.csp_reports == []
        finally:
            await browser.close()
    for name in checker.shots + other_checker.shots:
        assert (SCREENSHOTS / name).stat().st_size > 1000, name
