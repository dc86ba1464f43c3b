"""A worker killed (SIGKILL) while the partner app holds an added integration's connect call,
then started again: the call is retried with the change's Idempotency-Key, and the app, which
had connected the client before the worker died, connects it once.

The worker runs as `onboarding worker` in a child process of its own, so the kill is a real
crash: no shutdown, no answer to the app, no word to Temporal until the activity times out.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from devstack.partner_app import CONNECT_PATH, PartnerApp
from store.pool import Pool
from tests.activity_helpers import SECRET
from tests.api.integration_helpers import crm, integration, until_finished
from tests.e2e.processes import WorkerProcesses
from tests.eventually import eventually
from tests.factories import Tenant
from tests.workflow_helpers import onboarded_client

pytestmark = pytest.mark.e2e


@pytest.fixture
async def partner_app() -> AsyncIterator[PartnerApp]:
    async with PartnerApp() as app:
        yield app


@pytest.mark.timeout(180)
async def test_worker_killed_mid_connect_connects_once(
    api: httpx.AsyncClient,
    pool: Pool,
    tenant: Tenant,
    partner_app: PartnerApp,
    worker_processes: WorkerProcesses,
) -> None:
    """SIGKILL while the app holds the connect call; a new worker retries it once the activity
    times out: the same key twice at the app, one connection, the client connected to it."""
    worker_processes.env["ONBOARDING_OUTBOUND_ALLOW_PRIVATE_HOSTS"] = json.dumps(
        [f"127.0.0.1:{partner_app.port}"]
    )
    client_id = await onboarded_client(pool, tenant, tree=None)
    code = await crm(pool, tenant, partner_app)
    # The app connects at once but answers only after a while: the worker dies meanwhile (held
    # no longer than the retry takes, so the stand-in's shutdown does not wait for it).
    partner_app.hold_next(30)
    first = worker_processes.start()
    body = {"code": code, "settings": {"region": "eu", "token": SECRET}}
    accepted = await api.post(
        f"/v1/clients/{client_id}/integrations", json=body, headers={"Idempotency-Key": "k1"}
    )
    assert accepted.status_code == 202, accepted.text

    async def called() -> bool:
        worker_processes.assert_running()
        return bool(partner_app.requests)

    await eventually(called, what="the connect call at the stand-in", within=30)
    worker_processes.crash(first)
    assert len(partner_app.connections) == 1  # connected, but nobody heard it

    # The same request again while no worker runs: the same change, nothing new started.
    again = await api.post(
        f"/v1/clients/{client_id}/integrations", json=body, headers={"Idempotency-Key": "k1"}
    )
    assert again.json()["id"] == accepted.json()["id"]

    worker_processes.start()
    # Retried once the attempt's start-to-close timeout (30 s) says the dead worker is gone.
    done = await until_finished(api, accepted.json()["status_url"], seconds=90)
    assert done["state"] == "done", f"{done}\n{worker_processes.output()}"
    sent = [r for r in partner_app.requests if r.path == CONNECT_PATH]
    assert len(sent) == 2
    assert len({r.headers["idempotency-key"] for r in sent}) == 1
    [connection] = partner_app.connections.values()
    now = await integration(api, client_id, code)
    assert (now["state"], now["external_ref"], now["attempts"]) == ("connected", connection, 1)
