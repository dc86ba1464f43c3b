"""Outbound URLs are judged at save time as at call time, whatever their spelling (issue 20,
finding 10): integrations' connect_url and webhook endpoints both go through core/outbound.py,
and what is stored is the URL in the one spelling that was checked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from api.deps import Services
from api.main import create_app
from core.outbound import OutboundPolicy, OutboundRefused
from core.settings import Settings
from devstack.serving import serve_app
from store import webhooks
from store.pool import Pool
from tests.factories import Tenant

STAND_IN = "127.0.0.1:18099"


def _app(code: str, url: str) -> dict[str, Any]:
    return {"code": code, "name": "App", "kind": "automation", "connect_url": url}


def _hook(url: str) -> dict[str, Any]:
    return {"url": url, "event_types": ["onboarding.ready"]}


@pytest.fixture
async def listed_api(
    settings: Settings, pool: Pool, client: Client, tenant: Tenant
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with the tests' stand-in listed as the one private exception, as the dev stack
    lists its partner-app stand-in."""
    listed = settings.model_copy(update={"outbound_allow_private_hosts": [STAND_IN]})
    app = create_app(listed, services=Services(settings=listed, pool=pool, temporal=client))
    async with serve_app(app) as api:
        api.headers.update(tenant.auth)
        yield api


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://%31%32%37.0.0.1/steal", "loopback"),  # percent-encoded 127
        ("http://%6c%6f%63%61%6c%68%6f%73%74:18099/", "localhost"),  # percent-encoded localhost
        ("http://metadata.google.internal/computeMetadata/v1/", "internal"),
        ("http://metadata/computeMetadata/v1/", "domain"),
        ("http://instance-data.ec2.internal/latest/", "internal"),
        ("http://printer.local/", "local"),
    ],
    ids=[
        "percent-encoded-ip",
        "percent-encoded-name",
        "gcp-metadata",
        "single-label",
        "ec2",
        "mdns",
    ],
)
async def test_saving_a_url_the_call_would_refuse_is_422(
    listed_api: httpx.AsyncClient,
    pool: Pool,
    tenant: Tenant,
    endpoints_made: list[webhooks.EndpointRow],
    url: str,
    reason: str,
) -> None:
    """Integrations and webhooks alike: refused when saved, naming the field, as the call
    would refuse it (with DNS or without: these names never get that far)."""
    integration = await listed_api.post("/v1/integrations", json=_app("app", url))
    assert integration.status_code == 422, integration.text
    assert [e["field"] for e in integration.json()["errors"]] == ["connect_url"]
    assert reason in integration.json()["errors"][0]["message"]
    hook = await listed_api.post("/v1/webhooks", json=_hook(url))
    # Whatever was made (the code before the fix made it) is not left to later delivery loops.
    made, _ = await webhooks.list_endpoints(pool, partner_id=tenant.partner.id, limit=10, offset=0)
    endpoints_made.extend(made)
    assert hook.status_code == 422, hook.text
    assert [e["field"] for e in hook.json()["errors"]] == ["url"]
    with pytest.raises(OutboundRefused, match=reason):
        OutboundPolicy(https_only=False).check(url)  # what the call checks first


@pytest.mark.parametrize(
    "url",
    [f"http://127.0.0.1.:{STAND_IN.split(':')[1]}/hook", "http://127.0.0.1:018099/hook"],
    ids=["trailing-dot", "leading-zero-port"],
)
async def test_saving_the_stand_in_in_another_spelling_stores_the_spelling_checked(
    listed_api: httpx.AsyncClient,
    pool: Pool,
    tenant: Tenant,
    endpoints_made: list[webhooks.EndpointRow],
    url: str,
) -> None:
    """The listed stand-in written with a trailing dot or a leading zero in its port is the
    stand-in: saved in its plain spelling, the one the call-time check reads the same way."""
    plain = f"http://{STAND_IN}/hook"
    integration = await listed_api.post("/v1/integrations", json=_app("app", url))
    assert integration.status_code == 201, integration.text
    assert integration.json()["connect_url"] == plain
    assert (await listed_api.get("/v1/integrations/app")).json()["connect_url"] == plain

    hook = await listed_api.post("/v1/webhooks", json=_hook(url))
    assert hook.status_code == 201, hook.text
    made, _ = await webhooks.list_endpoints(pool, partner_id=tenant.partner.id, limit=10, offset=0)
    endpoints_made.extend(made)
    assert hook.json()["url"] == plain
