"""/docs in a real browser (Debian's Chromium, driven by Playwright) with no way out: every
request to another origin is aborted, as on a machine offline, and the page's own
Content-Security-Policy is in force. Swagger UI must still draw every operation."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Request, Route, async_playwright

from tests.e2e.browser_helpers import SCREENSHOTS, require_chromium

pytestmark = pytest.mark.e2e


async def test_docs_draw_every_operation_offline_under_their_csp(
    api_server: httpx.AsyncClient,
) -> None:
    """Swagger UI renders the API's operations with nothing fetched from another origin, and
    the browser reports no Content-Security-Policy violation."""
    executable = require_chromium()
    base = str(api_server.base_url).rstrip("/")
    outside: list[str] = []
    console: list[str] = []
    failed: list[str] = []

    async def only_this_origin(route: Route) -> None:
        url = route.request.url
        if url == base or url.startswith(base + "/") or url.startswith("data:"):
            await route.continue_()
        else:
            outside.append(url)
            await route.abort("internetdisconnected")

    def request_failed(request: Request) -> None:
        failed.append(request.url)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            await context.route("**/*", only_this_origin)
            page = await context.new_page()
            page.on("console", lambda message: console.append(message.text))
            page.on("requestfailed", request_failed)
            opened = await page.goto(f"{base}/docs")
            assert opened is not None and opened.status == 200
            await page.locator(".opblock").first.wait_for(timeout=20_000)
            await page.get_by_text("Client onboarding API").first.wait_for()
            drawn = await page.locator(".opblock").count()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=SCREENSHOTS / "docs.png")
        finally:
            await browser.close()
    paths = len((await api_server.get("/openapi.json")).json()["paths"])
    assert drawn >= paths, (drawn, paths)
    assert outside == [], outside
    assert failed == [], failed
    violations = [m for m in console if "Content Security Policy" in m or "Refused" in m]
    assert violations == [], violations
