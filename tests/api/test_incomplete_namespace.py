"""A Temporal namespace set up by an older release (a search attribute missing): the API says
what is wrong instead of "too large", and says it before any start is tried (issue 21)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.deps import Services
from api.main import create_app
from core import temporal
from core.settings import Settings
from devstack.serving import serve_app as serve
from devstack.temporal_server import temporal_cli
from store.pool import Pool
from tests.conftest import Tenant, converter_for_tests
from workflows.search_attributes import ALL_KEYS, STATUS_SINCE

BODY: dict[str, Any] = {
    "client": {
        "first_name": "Paul",
        "last_name": "Martin",
        "email": "paul@martin.be",
        "language": "nl",
    },
    "invitation": {"mode": "manual"},
}


@pytest.fixture(scope="module")
async def older_namespace() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server whose namespace has every search attribute but StatusSince, as a namespace
    set up before the release that added it."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=[key for key in ALL_KEYS if key is not STATUS_SINCE],
        data_converter=converter_for_tests(),
        dev_server_log_level="error",
        dev_server_extra_args=["--headless"],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def older_settings(settings: Settings, older_namespace: WorkflowEnvironment) -> Settings:
    address = older_namespace.client.service_client.config.target_host
    return settings.model_copy(update={"temporal_address": address})


@pytest.fixture
async def older_client(older_settings: Settings) -> Client:
    return await temporal.connect(older_settings)


@pytest.fixture
async def older_api(
    older_settings: Settings, pool: Pool, older_client: Client, tenant: Tenant
) -> AsyncIterator[httpx.AsyncClient]:
    services = Services(settings=older_settings, pool=pool, temporal=older_client)
    async with serve(create_app(older_settings, services=services)) as http:
        http.headers.update(tenant.auth)
        yield http


async def test_start_in_a_namespace_missing_an_attribute_is_503_naming_it(
    older_api: httpx.AsyncClient, pool: Pool
) -> None:
    """A five-field onboarding refused for a missing search attribute: 503 naming the attribute,
    with Retry-After, never 413; the claim is given back so a retry can start it later."""
    key = f"older-{uuid.uuid4()}"
    response = await older_api.post("/v1/onboardings", json=BODY, headers={"Idempotency-Key": key})
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    problem = response.json()
    assert problem["type"].endswith("/temporal-refused")
    assert "StatusSince" in problem["detail"]
    assert "paul" not in problem["detail"].lower()
    claimed = await pool.fetchval(
        "SELECT count(*) FROM onboardings WHERE idempotency_key = $1", key
    )
    assert claimed == 0
