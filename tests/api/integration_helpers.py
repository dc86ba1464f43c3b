"""Helpers of the integration-change tests (API, console, browser, worker crash): a worker for
IntegrationChangeWorkflow, an app at the partner-app stand-in, and reading a change's end."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.integrations import IntegrationActivities
from core.outbound import OutboundPolicy
from core.settings import Environment, Settings
from devstack.partner_app import PartnerApp
from store import catalogs
from store.pool import Pool
from tests.eventually import eventually
from tests.factories import Tenant
from worker.interceptors import DataErrorsAreFinal
from worker.main import WORKFLOW_RUNNER
from workflows.integrations import IntegrationChangeWorkflow


@asynccontextmanager
async def change_worker(
    client: Client, pool: Pool, queue: str, app: PartnerApp
) -> AsyncIterator[Worker]:
    """A main-queue worker for this workflow with the real activities, allowed to call the
    stand-in (and only it) as the dev stack allows its own."""
    policy = OutboundPolicy.from_settings(
        Settings(env=Environment.test, outbound_allow_private_hosts=[f"127.0.0.1:{app.port}"])
    )
    async with httpx.AsyncClient() as http:
        activities = IntegrationActivities(pool, http, timeout=5, outbound_policy=policy)
        async with Worker(
            client,
            task_queue=queue,
            workflows=[IntegrationChangeWorkflow],
            activities=[
                activities.connect_integration,
                activities.record_integration_failure,
                activities.disconnect_integration,
                activities.finish_integration_change,
            ],
            workflow_runner=WORKFLOW_RUNNER,
            interceptors=[DataErrorsAreFinal()],
        ) as worker:
            yield worker


async def crm(pool: Pool, tenant: Tenant, app: PartnerApp, code: str = "crm") -> str:
    """An automation app of the firm's catalogue at the stand-in, with a secret token."""
    body = {
        "code": code,
        "name": "CRM Pro",
        "kind": "automation",
        "connect_url": app.connect_url,
        "disconnect_url": app.disconnect_url,
        "settings": [
            {"name": "region", "type": "string", "required": True},
            {"name": "token", "type": "string", "required": True, "secret": True},
        ],
    }
    assert await catalogs.create(
        pool, "integrations", partner_id=tenant.partner.id, code=code, body=body
    )
    return code


async def until_finished(
    api: httpx.AsyncClient, status_url: str, *, seconds: float = 30
) -> dict[str, Any]:
    """The change once it is no longer running (done or failed)."""

    async def change() -> dict[str, Any]:
        found: dict[str, Any] = (await api.get(status_url)).json()
        return found

    ended: dict[str, Any] = await eventually(
        change,
        what="the integration change finished",
        within=seconds,
        every=0.1,
        until=lambda c: c["state"] != "running",
    )
    return ended


async def integration(api: httpx.AsyncClient, client_id: uuid.UUID, code: str) -> dict[str, Any]:
    listed = (await api.get(f"/v1/clients/{client_id}/integrations")).json()
    found: dict[str, Any] = next(i for i in listed if i["code"] == code)
    return found
