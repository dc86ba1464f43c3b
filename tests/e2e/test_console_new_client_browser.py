"""The console's new-client form in a real browser (Debian's Chromium driven by Playwright, over
the real stack), used with the keyboard alone: an administrator reaches the form from "My
clients", sends it with mistakes, reads the errors, corrects them and lands on the new client's
page. axe-core finds no serious or critical violation on the form, empty or with its errors;
screenshots go to test-artifacts/screenshots/console-new-client-*.png at 1280 and 390 wide.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, async_playwright
from temporalio.worker import Worker

from core.settings import Settings
from devstack.registry_standin import RegistryStandin
from devstack.smtp_sink import SmtpSink
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
from tests.factories import Tenant

pytestmark = pytest.mark.e2e


async def _tab_to(page: Page, element_id: str) -> None:
    """Press Tab until the element has the focus, as a keyboard user moves through a page."""
    for _ in range(80):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.id") == (
            element_id
        ):
            return
    raise AssertionError(f"Tab never reached #{element_id}")


async def _retype(page: Page, element_id: str, text: str) -> None:
    """Move to a text field, select what it holds and type over it."""
    await _tab_to(page, element_id)
    await page.keyboard.press("Control+A")
    await page.keyboard.press("Backspace")
    if text:
        await page.keyboard.type(text)


async def test_administrator_adds_a_client_with_the_keyboard_only_in_chromium(
    site: httpx.AsyncClient,  # noqa: F811
    worker: Worker,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,  # noqa: F811
    registry: RegistryStandin,
) -> None:
    """Tab, typing, arrows and Enter only: from the clients list to the new client's page, the
    form accessible empty, as a wrong SIRET is typed (said at once, nothing sent), with its
    errors, with the register's answer and with the setup previewed."""
    executable = require_chromium()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = settings.public_base_url

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
            await page.goto(f"{base}/console/clients")
            await _sign_in(page, smtp_sink, tenant.admin.email, base)
            await page.get_by_role("heading", name="Mes clients").wait_for()

            # From here on, the keyboard only.
            await _tab_to(page, "add-client")
            await page.keyboard.press("Enter")
            await page.get_by_role("heading", name="Nouveau client").wait_for()
            assert page.url == f"{base}/console/clients/new"
            await checker.check("new-client")

            await _tab_to(page, "first_name")
            await page.keyboard.type("Inès")
            await _tab_to(page, "email")
            await page.keyboard.type("ines@")
            await _tab_to(page, "company_name")
            await page.keyboard.type("Garnier SAS")
            await page.keyboard.press("Tab")  # the SIRET, next in the page
            await page.keyboard.type("552 032 534 00647")
            # The check digit said as it is typed, before anything is sent.
            live = page.locator("#siret-check")
            await live.get_by_text(
                "La clé de contrôle de ce SIRET est fausse : vérifiez les 14 chiffres"
            ).wait_for()
            assert await live.get_attribute("aria-live") == "polite"
            assert page.url == f"{base}/console/clients/new"
            await checker.check("new-client-typing")
            await page.keyboard.press("Enter")
            await page.get_by_role("heading", name="Il y a un problème").wait_for()
            summary = page.locator(".error-summary")
            assert await summary.get_by_role("link").all_inner_texts() == [
                "Saisissez le nom du contact",
                "Saisissez une adresse e-mail comme nom@exemple.fr",
                "La clé de contrôle de ce SIRET est fausse : vérifiez les 14 chiffres",
            ]
            assert await page.input_value("#first_name") == "Inès"
            assert await page.input_value("#siret") == "552 032 534 00647"
            await checker.check("new-client-errors")

            await _retype(page, "last_name", "Garnier")
            await _retype(page, "email", "ines@garnier.example")
            await _retype(page, "siret", "552 032 534 00646")
            assert await page.locator("#siret-check").inner_text() == ""
            # What the register says of it, before starting: the same form back, kept.
            await _tab_to(page, "look-up-company")
            await page.keyboard.press("Enter")
            await page.get_by_role("heading", name="Ce que dit le registre").wait_for()
            assert await page.locator(".company-lookup").get_by_text("DANONE").count() == 1
            assert await page.input_value("#siret") == "552 032 534 00646"
            await checker.check("new-client-lookup")
            await _retype(page, "siret", "")
            # Notifications: the second choice of the group, with an arrow key.
            await _tab_to(page, "notifications")
            await page.keyboard.press("ArrowDown")
            assert await page.is_checked("#notifications_off")
            # The setup the default template gives, previewed: the same form back, kept.
            await _tab_to(page, "preview-setup")
            await page.keyboard.press("Enter")
            await page.get_by_role("heading", name=re.compile("Le paramétrage de")).wait_for()
            assert page.url == f"{base}/console/clients/new#preview-title"  # opens at it
            assert await page.input_value("#last_name") == "Garnier"
            assert await page.is_checked("#notifications_off")
            await checker.check("new-client-preview")
            await _tab_to(page, "first_name")
            await page.keyboard.press("Enter")

            # The onboarding's page, which leads to the client's once setup created it (at once
            # when setup was that quick).
            await page.wait_for_url(re.compile(r".*/console/(onboardings|clients)/[0-9a-f-]{36}$"))

            async def client_page() -> bool:
                if await page.get_by_role("heading", name="Garnier SAS").count():
                    return True
                await page.reload()  # as a person would, waiting for the setup
                return False

            await eventually(client_page, what="the client's page", within=10, every=0.1)
            await page.get_by_role("heading", name="Garnier SAS").wait_for()
            assert re.search(r"/console/clients/[0-9a-f-]{36}$", page.url), page.url
            assert dialogs == [] and checker.csp_reports == []
        finally:
            await browser.close()
    for name in checker.shots:
        assert (SCREENSHOTS / name).stat().st_size > 1000, name
    assert checker.shots == [
        f"console-{n}-{w}.png"
        for n in (
            "new-client",
            "new-client-typing",
            "new-client-errors",
            "new-client-lookup",
            "new-client-preview",
        )
        for w in WIDTHS
    ]
    listed = await site.get("/v1/onboardings", headers=tenant.auth)
    assert listed.json()["total"] == 1
    [item] = listed.json()["items"]

    async def status() -> dict[str, Any]:
        answer = await site.get(f"/v1/onboardings/{item['id']}", headers=tenant.auth)
        body: dict[str, Any] = answer.json()
        return body

    view = await eventually(
        status,
        until=lambda v: v.get("notifications_muted") is True and v["status"] != "SETTING_UP",
        what="the onboarding set up, muted",
        within=10,
    )
    assert view["notifications_muted"] is True, view
    assert uuid.UUID(item["id"])
