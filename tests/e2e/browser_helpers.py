"""What the browser tests share: Chromium, the console's site, signing in, widths, screenshots."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import ConsoleMessage, Page, async_playwright
from temporalio.client import Client

from api.deps import Services
from api.main import create_app
from core.settings import Settings
from devstack.ports import free_port
from devstack.serving import serve_app
from devstack.smtp_sink import SmtpSink
from store import limits
from store.pool import Pool
from tests.factories import Tenant


@asynccontextmanager
async def _browser(
    smtp_sink: SmtpSink, tenant: Tenant, base: str, start: str
) -> AsyncIterator[tuple[Page, Checker]]:
    """Chromium signed in as the firm's administrator (French), on `start`."""
    executable = require_chromium()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        try:
            context = await browser.new_context(
                viewport={"width": WIDTHS[0], "height": 900}, locale="fr-FR"
            )
            page = await context.new_page()
            checker = Checker(page)
            await page.goto(f"{base}{start}")
            await _sign_in(page, smtp_sink, tenant.admin.email, base)
            yield page, checker
            assert checker.csp_reports == []
        finally:
            await browser.close()
    for name in checker.shots:
        assert (SCREENSHOTS / name).stat().st_size > 1000, name


WIDTHS = (1280, 390)


BODY: dict[str, Any] = {
    "client": {
        "first_name": "Élodie",
        "last_name": "Lefèvre",
        "email": "elodie@lefevre.example",
        "language": "fr",
        "company_name": "Boulangerie Lefèvre & Fils",
    },
    "fiscal_year": {"start": "2026-01-01"},
    "director": {"email": "elodie@lefevre.example", "first_name": "Élodie", "last_name": "Lefèvre"},
    "invitation": {"mode": "manual"},
}


@pytest.fixture
def site_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, site_port: int) -> Settings:
    """The test settings, with e-mails linking to the site this test serves."""
    return settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{site_port}"})


@pytest.fixture
async def site(
    settings: Settings, pool: Pool, client: Client, site_port: int
) -> AsyncIterator[httpx.AsyncClient]:
    """The app served by uvicorn on the port the e-mails link to."""
    # This test asks for sign-in links from 127.0.0.1 like the API tests: a full budget.
    await limits.forget(pool, key="console-sign-in:ip:" + _ip_digest())
    app = create_app(settings, services=Services(settings=settings, pool=pool, temporal=client))
    async with serve_app(app, port=site_port) as http:
        yield http


def _ip_digest() -> str:
    from app.sign_in import digest

    return digest("127.0.0.1")


class Checker:
    """Runs axe on a page, and screenshots it at every width."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.axe = Axe()
        self.shots: list[str] = []
        self.csp_reports: list[str] = []
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp_reports.append(message.text)

    async def check(self, name: str) -> None:
        results = await self.axe.run(self.page)
        bad = [
            f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert bad == [], f"{name}: {bad}"
        for width in WIDTHS:
            await self.page.set_viewport_size({"width": width, "height": 900})
            path = SCREENSHOTS / f"console-{name}-{width}.png"
            await self.page.screenshot(path=str(path), full_page=True)
            self.shots.append(path.name)
        await self.page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def _link(text: str, base_url: str) -> str:
    match = re.search(rf"({re.escape(base_url)}/console/sign-in/\S+)", text)
    assert match, text
    return match.group(1)


async def _sign_in(page: Page, smtp_sink: SmtpSink, email: str, base: str) -> None:
    """Through the sign-in page and the e-mailed link, as a person would."""
    smtp_sink.handler.clear()
    await page.get_by_label("Adresse e-mail").fill(email)
    await page.get_by_role("button", name="M'envoyer un lien de connexion").click()
    await page.get_by_role("heading", name="Consultez vos e-mails").wait_for()
    [mail] = await smtp_sink.handler.arrived(1)
    text = mail.message.get_body(preferencelist=("plain",))
    assert text is not None
    await page.goto(_link(text.get_content(), base))
    await page.get_by_role("button", name="Continuer").click()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def chromium_path() -> str | None:
    """Debian's Chromium (or CHROMIUM_PATH): never a browser Playwright downloads."""
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """Chromium's path for a page test. In CI the pages must be proven (.ci/run installs
    Chromium), so its absence fails the test; only a local run may skip, saying why."""
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium found in CI (/usr/bin/chromium, CHROMIUM_PATH)")
        pytest.skip("no Chromium found (/usr/bin/chromium, CHROMIUM_PATH): .ci/run installs it")
    return executable
