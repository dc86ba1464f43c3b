"""A Temporal namespace set up by an older release (a search attribute missing): the API says
what is wrong instead of "too large", and says it before any start is tried (issue 21)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.deps import Services
from api.main import create_app
from core import temporal
from core.settings import Settings
from devstack.serving import serve_app as serve
from devstack.temporal_server import temporal_cli
from domain.search_attributes import ALL_KEYS, STATUS_SINCE
from store.pool import Pool
from tests.e2e.processes import ROOT, worker_env
from tests.factories import Tenant, converter_for_tests

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


FIX = (
    "temporal operator search-attribute create --namespace default --name StatusSince "
    "--type Datetime"
)


async def test_health_refuses_readiness_naming_the_missing_attribute_and_its_fix(
    older_api: httpx.AsyncClient,
) -> None:
    """/healthz is 503 naming temporal_namespace, the attribute and the command that adds it; the
    gauge says StatusSince is missing and the others are not."""
    response = await older_api.get("/healthz")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["components"]["temporal"] == "ok"
    assert body["components"]["temporal_namespace"].startswith("down")
    assert "StatusSince" in body["components"]["temporal_namespace"]
    assert FIX in body["detail"]
    assert body["missing_search_attributes"] == [
        {"name": "StatusSince", "type": "Datetime", "command": FIX}
    ]
    gauge = "onboarding_temporal_search_attribute_missing"
    assert REGISTRY.get_sample_value(gauge, {"name": "StatusSince"}) == 1
    assert REGISTRY.get_sample_value(gauge, {"name": "OnboardingStatus"}) == 0


async def test_health_is_ready_when_the_namespace_has_every_attribute(
    api: httpx.AsyncClient,
) -> None:
    """A namespace with every attribute: /healthz 200, temporal_namespace ok."""
    response = await api.get("/healthz")
    assert response.status_code == 200, response.text
    assert response.json()["components"]["temporal_namespace"] == "ok"


async def test_worker_refuses_to_start_naming_the_missing_attribute_and_its_fix(
    older_settings: Settings,
) -> None:
    """`onboarding worker` against the older namespace exits 3 before polling, printing the
    attribute and the command that adds it (and logging it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "worker",
        cwd=ROOT,
        env=worker_env(older_settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
    text = output.decode()
    assert process.returncode == 3, text
    assert "StatusSince" in text
    assert FIX in text
