"""The documentation site (mkdocs.yml, docs/): it builds with --strict and offline, its reference
leaves out no setting, command or webhook event, and its pages render in Chromium (the state
diagram included), with screenshots left in test-artifacts/screenshots/docs-*.png."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import typer
from playwright.async_api import Request, async_playwright
from pydantic import Field

from core.settings import Settings
from docsgen import reference
from store.webhooks import EventType
from tests.e2e.browser_helpers import require_chromium

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
WEBHOOKS_PAGE = ROOT / "docs" / "reference" / "webhooks.md"
OPEN_SHADOW_ROOTS = """
const attach = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  return attach.call(this, {...init, mode: "open"});
};
"""


def test_every_setting_has_a_reference_entry() -> None:
    """Each field of the settings class says what it does (a description or a docstring), so
    its generated entry in the settings reference is not an empty line."""
    assert reference.undocumented_settings() == []
    entries = reference.settings_markdown()
    for name in Settings.model_fields:
        assert f"`ONBOARDING_{name.upper()}`" in entries


def test_a_setting_without_a_description_is_reported() -> None:
    """A new field added without a description or docstring is named by the check."""

    class Grown(Settings):
        shiny_new_knob: int = 3
        described_knob: int = Field(default=4, description="Says what it does.")

    assert reference.undocumented_settings(Grown) == ["ONBOARDING_SHINY_NEW_KNOB"]


def test_every_cli_command_has_a_reference_entry() -> None:
    """Each `onboarding` command (sub-commands included) has help text for its generated entry,
    and the generated page names every one of them."""
    assert reference.undocumented_commands() == []
    page = reference.cli_markdown()
    paths = [entry.path for entry in reference.command_entries()]
    assert "onboarding partner create" in paths and "onboarding worker" in paths
    for path in paths:
        assert f"## `{path}`" in page


def test_a_command_without_help_is_reported() -> None:
    """A command registered without a docstring or help is named by the check."""
    app = typer.Typer()

    @app.command()
    def documented() -> None:
        """Does a thing."""

    @app.command()
    def silent() -> None:
        pass

    assert reference.undocumented_commands(app) == ["onboarding silent"]


def events_without_entry(page: str) -> list[str]:
    """The webhook event types that have no row of their own in the events reference."""
    rows = {m.group(1) for m in re.finditer(r"^\| `([a-z_.]+)` \|", page, re.MULTILINE)}
    return [event.value for event in EventType if event.value not in rows]


def test_every_webhook_event_has_a_reference_entry() -> None:
    """Each event type the outbox can write has its row (when, and its `data`) in the events
    reference; a page missing one is caught."""
    page = WEBHOOKS_PAGE.read_text()
    assert events_without_entry(page) == []
    without = page.replace("| `checklist.completed` |", "| checklist completed |")
    assert events_without_entry(without) == ["checklist.completed"]


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `make docs` builds it (--strict), into a directory of the test's own."""
    site = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert "WARNING" not in built.stderr, built.stderr[-3000:]
    return site


def test_the_site_builds_strict_and_needs_no_other_site(built_site: Path) -> None:
    """`mkdocs build --strict` passes (no broken link, no page out of the navigation), and no
    page loads a script, a style or a font from another site: the site reads offline."""
    pages = list(built_site.rglob("*.html"))
    assert len(pages) > 20
    for page in pages:
        html = page.read_text()
        remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', html)
        assert not [url for url in remote if not url.endswith(".xml")], (page, remote)
    api = built_site / "reference" / "api"
    assert (api / "openapi.json").is_file() and (api / "swagger-ui-bundle.js").is_file()
    assert "/v1/onboardings" in (api / "openapi.json").read_text()


@pytest.fixture
def served_site(built_site: Path) -> Iterator[str]:
    """The built site over HTTP on a free loopback port (Material's search and Swagger UI fetch
    files, which a file:// page may not)."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(built_site))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_the_site_renders_its_pages_and_diagram_offline_in_chromium(served_site: str) -> None:
    """Home, the statuses' state diagram and the settings reference render in Chromium with every
    request kept on the site (the diagram is drawn by the vendored mermaid, not a CDN's); the
    screenshots are left for a look."""
    executable = require_chromium()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    elsewhere: list[str] = []

    def watch(request: Request) -> None:
        if not request.url.startswith(served_site) and not request.url.startswith("data:"):
            elsewhere.append(request.url)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            # Nothing leaves the machine: a request elsewhere is refused and recorded.
            await context.route(
                re.compile(r"^(?!" + re.escape(served_site) + ").*"), lambda r: r.abort()
            )
            # Material draws each diagram into a closed shadow root; opened here, so the test
            # can read what mermaid drew.
            await context.add_init_script(OPEN_SHADOW_ROOTS)
            page = await context.new_page()
            page.on("request", watch)

            await page.goto(served_site + "/")
            assert "Client onboarding" in await page.title()
            await page.wait_for_selector(".mermaid svg", timeout=20_000)
            await page.screenshot(path=str(SCREENSHOTS / "docs-home.png"), full_page=True)

            await page.goto(served_site + "/concepts/onboarding/")
            diagram = page.locator(".mermaid svg").first
            await diagram.wait_for(timeout=20_000)
            drawn = await page.evaluate(
                "() => document.querySelector('div.mermaid').shadowRoot.innerHTML"
            )
            for status in ("AWAITING_COMPANY_DETAILS", "NEEDS_ATTENTION", "WAITING_FOR_UNMUTE"):
                assert status in drawn
            await page.screenshot(path=str(SCREENSHOTS / "docs-state-diagram.png"), full_page=True)

            await page.goto(served_site + "/reference/settings/")
            await page.get_by_text("ONBOARDING_TEMPORAL_API_KEY").first.wait_for()
            # The top of the table (the whole page is some 10,000 pixels tall).
            await page.screenshot(path=str(SCREENSHOTS / "docs-settings.png"))
        finally:
            await browser.close()
    assert elsewhere == []
    for name in ("docs-home", "docs-state-diagram", "docs-settings"):
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000, name
