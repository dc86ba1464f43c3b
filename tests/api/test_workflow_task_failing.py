"""An onboarding whose workflow task fails in a loop (a search attribute removed after its
start, as a namespace that lacks one this release sets): its status still answers, from the
projection, flagged and explained; the stuck list and a metric show it (issue 21)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.api.operatorservice.v1 import RemoveSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.registry import RegistryConfig, build_registry_client
from api.deps import Services
from api.main import create_app
from app import onboardings as app_onboardings
from core import temporal
from core.settings import Settings
from devstack.serving import serve_app as serve
from devstack.temporal_server import temporal_cli
from domain.search_attributes import ALL_KEYS
from store.pool import Pool
from tests.cli_helpers import ops_env, run_onboarding
from tests.eventually import eventually
from tests.factories import Tenant, converter_for_tests
from worker.main import build_workers, running

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
async def own_temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this module's own (a search attribute is removed from it), which flags a
    workflow whose task failed twice in a row (TemporalReportedProblems) instead of five times."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=ALL_KEYS,
        data_converter=converter_for_tests(),
        dev_server_log_level="error",
        dev_server_extra_args=[
            "--headless",
            "--dynamic-config-value",
            "system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute=2",
        ],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def own_settings(settings: Settings, own_temporal: WorkflowEnvironment) -> Settings:
    address = own_temporal.client.service_client.config.target_host
    return settings.model_copy(
        update={"temporal_address": address, "metrics_enabled": True, "metrics_refresh_seconds": 0}
    )


async def _poll(what: str, seconds: float, probe: Any) -> Any:
    """probe() until its answer's first item is truthy (eventually, every half second)."""
    return await eventually(
        probe, until=lambda last: last and last[0], what=what, within=seconds, every=0.5
    )


async def test_status_answers_from_the_projection_while_the_workflow_task_fails(
    own_settings: Settings, pool: Pool, tenant: Tenant
) -> None:
    """StatusSince removed after the start: the status route answers 200 from PostgreSQL with
    workflow_task_failing and the cause, the stuck lists (API and command line) flag it, the
    metric counts it, and `onboarding status` says why."""
    client: Client = await temporal.connect(own_settings)
    services = Services(settings=own_settings, pool=pool, temporal=client)
    async with serve(create_app(own_settings, services=services)) as api:
        api.headers.update(tenant.auth)
        # Started while the namespace has every attribute, and before any worker runs...
        started = await api.post(
            "/v1/onboardings", json=BODY, headers={"Idempotency-Key": f"wft-{uuid.uuid4()}"}
        )
        assert started.status_code == 202, started.text
        onboarding_id = started.json()["id"]
        # ...then the namespace loses StatusSince: the next status change cannot be recorded.
        await client.operator_service.remove_search_attributes(
            RemoveSearchAttributesRequest(
                namespace=client.namespace, search_attributes=["StatusSince"]
            )
        )
        async with httpx.AsyncClient() as http:
            registry = build_registry_client(
                RegistryConfig.from_settings(own_settings), http=http, pool=pool
            )
            workers = build_workers(
                client, pool=pool, settings=own_settings, http=http, registry=registry
            )
            async with running(workers):

                async def status() -> tuple[bool, httpx.Response]:
                    response = await api.get(f"/v1/onboardings/{onboarding_id}")
                    return response.status_code == 200 and response.json().get(
                        "workflow_task_failing"
                    ), response

                _, response = await _poll("the failing task flagged", 60, status)
                view = response.json()
                assert view["source"] == "projection"
                projected = await pool.fetchval(
                    "SELECT status FROM onboardings WHERE id = $1", uuid.UUID(onboarding_id)
                )
                assert view["status"] == projected
                assert view["steps"] == []
                assert "search attribute" in view["workflow_problem"]
                assert "paul" not in view["workflow_problem"].lower()
                # The console's client page reads the same use case: the projection, not nothing.
                console_view = await app_onboardings.read_status(
                    pool,
                    client,
                    partner_id=tenant.partner.id,
                    onboarding_id=uuid.UUID(onboarding_id),
                )
                assert console_view.model_dump(mode="json") == view

                async def counted() -> tuple[bool, float | None]:
                    text = (await api.get("/metrics")).text
                    for family in text_string_to_metric_families(text):
                        if family.name == "onboarding_workflow_task_failing":
                            value = family.samples[0].value
                            return value >= 1, value
                    return False, None

                await _poll("onboarding_workflow_task_failing >= 1", 60, counted)

                stuck = await api.get("/v1/onboardings", params={"stuck_for": "P2D"})
                assert stuck.status_code == 200, stuck.text
                flagged = {i["id"]: i["workflow_task_failing"] for i in stuck.json()["items"]}
                assert flagged == {onboarding_id: True}

                # The command line says the same: `onboarding status` and `onboarding stuck`.
                env = ops_env(own_settings)
                shown = await run_onboarding(env, "status", onboarding_id)
                assert shown.code == 0, shown.err
                assert "workflow task failing:" in shown.out
                assert "search attribute" in shown.out
                listed = await run_onboarding(env, "stuck", "--older-than", "2d", "--json")
                assert listed.code == 0, listed.err
                rows = [json.loads(line) for line in listed.out.splitlines()]
                mine = [row for row in rows if row["id"] == onboarding_id]
                assert mine and mine[0]["workflow_task_failing"] == "true", rows
