"""GET /docs: Swagger UI served from the API itself (no CDN), under a Content-Security-Policy
that names no other origin, and absent when ONBOARDING_DOCS_ENABLED is off or in production."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from temporalio.client import Client

from api.deps import Services
from api.main import create_app
from core.settings import Environment, Settings
from devstack.serving import serve_app
from store.pool import Pool

REFERENCE = re.compile(r"""\b(?:src|href|data-openapi-url)\s*=\s*["']([^"']+)["']""")


def references(html: str) -> list[str]:
    """Every URL the page makes the browser load (scripts, stylesheets, icon, the document)."""
    return REFERENCE.findall(html)


def same_origin(url: str) -> bool:
    """A path on this host: no scheme, no `//host`."""
    return url.startswith("/") and not url.startswith("//")


async def test_docs_page_loads_only_same_origin_assets_each_served(
    api_server: httpx.AsyncClient,
) -> None:
    """/docs names only paths of this API, each answers 200 with its type, and the page's CSP
    lets nothing in from another origin (nor inline scripts)."""
    page = await api_server.get("/docs")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    urls = references(page.text)
    assert len(urls) >= 4, urls  # stylesheet, icon, Swagger UI, its start script
    assert all(same_origin(url) for url in urls), urls
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert "http" not in policy and "unsafe" not in policy and "*" not in policy
    kinds = set()
    for url in urls:
        asset = await api_server.get(url)
        assert asset.status_code == 200, url
        kinds.add(asset.headers["content-type"].split(";")[0])
    assert {"text/javascript", "text/css", "application/json"} <= kinds
    assert (await api_server.get("/docs/assets/..%2Fdocs.py")).status_code == 404
    # ReDoc would need inline styles: not served at all, nor from a CDN.
    assert (await api_server.get("/redoc")).status_code == 404


@pytest.fixture
async def served_with(
    settings: Settings, pool: Pool, client: Client
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """The API served twice: docs turned off by the setting, and production left to default."""
    variants = {
        "off": settings.model_copy(update={"docs_enabled": False}),
        # model_copy skips validation: production's secret checks are not what is tested here.
        "production": settings.model_copy(update={"env": Environment.production}),
    }
    async with AsyncExitStack() as stack:
        served = {}
        for name, variant in variants.items():
            services = Services(settings=variant, pool=pool, temporal=client)
            app = create_app(variant, services=services)
            served[name] = await stack.enter_async_context(serve_app(app))
        yield served


async def test_docs_are_absent_when_turned_off_or_by_default_in_production(
    served_with: dict[str, httpx.AsyncClient],
) -> None:
    """ONBOARDING_DOCS_ENABLED=false, or production without it: /docs and its assets are 404;
    the OpenAPI document partners generate clients from is still served."""
    for name, api in served_with.items():
        for path in ("/docs", "/docs/assets/swagger-ui-bundle.js", "/redoc"):
            assert (await api.get(path)).status_code == 404, (name, path)
        assert (await api.get("/openapi.json")).status_code == 200, name
