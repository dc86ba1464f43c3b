"""/v1/clients/{id}/integrations: adding, reconfiguring and removing a client's apps after
onboarding, each change run once by IntegrationChangeWorkflow against the partner-app stand-in
over real HTTP (real PostgreSQL, Temporal dev server and worker)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from core.settings import Settings
from devstack.partner_app import CONNECT_PATH, DISCONNECT_PATH, PartnerApp
from domain.setup import SECRET_MASK
from store import applied_setup
from store.pool import Pool
from tests.api.integration_helpers import change_worker, crm, integration, until_finished
from tests.factories import Tenant, make_tenant
from tests.workflow_helpers import onboarded_client

SECRET = "s3cr3t-token-9d1f"
NEW_SECRET = "n3w-s3cr3t-4a2b"


@pytest.fixture
async def partner_app() -> AsyncIterator[PartnerApp]:
    async with PartnerApp() as app:
        yield app


def _fields(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


def _paths(app: PartnerApp, path: str) -> list[Any]:
    return [r for r in app.requests if r.path == path]


async def test_add_sent_twice_with_one_key_connects_once(
    api: httpx.AsyncClient,
    pool: Pool,
    tenant: Tenant,
    client: Client,
    settings: Settings,
    partner_app: PartnerApp,
) -> None:
    """The same POST twice (one Idempotency-Key): one change, one run, one connection at the
    app with the real secret; the answers and the list show the secret masked."""
    client_id = await onboarded_client(pool, tenant, tree=None)
    code = await crm(pool, tenant, partner_app)
    body = {"code": code, "settings": {"region": "eu", "token": SECRET}}
    headers = {"Idempotency-Key": "add-crm-1"}
    url = f"/v1/clients/{client_id}/integrations"
    first = await api.post(url, json=body, headers=headers)
    second = await api.post(url, json=body, headers=headers)
    assert (first.status_code, second.status_code) == (202, 202), first.text
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.headers["Location"] == first.json()["status_url"]
    assert first.json()["settings"] == {"region": "eu", "token": SECRET_MASK}
    assert (await integration(api, client_id, code))["state"] == "connecting"

    async with change_worker(client, pool, settings.task_queue, partner_app):
        done = await until_finished(api, first.json()["status_url"])
    assert done["state"] == "done", done
    assert len(partner_app.connections) == 1
    [sent] = _paths(partner_app, CONNECT_PATH)
    assert sent.body["settings"] == {"region": "eu", "token": SECRET}
    assert sent.headers["idempotency-key"].endswith(done["id"])
    now = await integration(api, client_id, code)
    assert (now["state"], now["external_ref"]) == (
        "connected",
        next(iter(partner_app.connections.values())),
    )
    assert now["settings"] == {"region": "eu", "token": SECRET_MASK}
    everything = "".join(
        [
            first.text,
            second.text,
            (await api.get(url)).text,
            (await api.get(f"{url}/history")).text,
            (await api.get(first.json()["status_url"])).text,
        ]
    )
    assert SECRET not in everything


async def test_reconfigure_connects_again_once_with_the_new_settings(
    api: httpx.AsyncClient,
    pool: Pool,
    tenant: Tenant,
    client: Client,
    settings: Settings,
    partner_app: PartnerApp,
) -> None:
    """PATCH changes one setting, the secret kept: a new connection at the app with the new
    region and the same token, once even when the PATCH is sent twice with one key; PUT with a
    new secret sends that one."""
    client_id = await onboarded_client(pool, tenant, tree=None)
    code = await crm(pool, tenant, partner_app)
    url = f"/v1/clients/{client_id}/integrations"
    async with change_worker(client, pool, settings.task_queue, partner_app):
        added = await api.post(
            url, json={"code": code, "settings": {"region": "eu", "token": SECRET}}
        )
        assert (await until_finished(api, added.json()["status_url"]))["state"] == "done"

        headers = {"Idempotency-Key": "reconf-1"}
        patch = {"settings": {"region": "us", "token": SECRET_MASK}}
        first = await api.patch(f"{url}/{code}", json=patch, headers=headers)
        second = await api.patch(f"{url}/{code}", json=patch, headers=headers)
        assert (first.status_code, second.status_code) == (202, 202), first.text
        assert first.json()["id"] == second.json()["id"]
        assert first.json()["action"] == "reconfigure"
        assert (await until_finished(api, first.json()["status_url"]))["state"] == "done"

        replaced = await api.put(
            f"{url}/{code}", json={"settings": {"region": "ca", "token": NEW_SECRET}}
        )
        assert replaced.status_code == 202, replaced.text
        assert (await until_finished(api, replaced.json()["status_url"]))["state"] == "done"

    sent = [r.body["settings"] for r in _paths(partner_app, CONNECT_PATH)]
    assert sent == [
        {"region": "eu", "token": SECRET},
        {"region": "us", "token": SECRET},
        {"region": "ca", "token": NEW_SECRET},
    ]
    assert len(partner_app.connections) == 3  # one per change, none twice
    now = await integration(api, client_id, code)
    assert (now["state"], now["settings"]) == ("connected", {"region": "ca", "token": SECRET_MASK})
    assert now["change_id"] == replaced.json()["id"]


async def test_remove_sent_twice_disconnects_once(
    api: httpx.AsyncClient,
    pool: Pool,
    tenant: Tenant,
    client: Client,
    settings: Settings,
    partner_app: PartnerApp,
) -> None:
    """DELETE twice: the same removal, one disconnection of the app's connection; the app then
    says removed, and the history says who did what, newest first."""
    client_id = await onboarded_client(pool, tenant, tree=None)
    code = await crm(pool, tenant, partner_app)
    url = f"/v1/clients/{client_id}/integrations"
    async with change_worker(client, pool, settings.task_queue, partner_app):
        added = await api.post(
            url, json={"code": code, "settings": {"region": "eu", "token": SECRET}}
        )
        assert (await until_finished(api, added.json()["status_url"]))["state"] == "done"
        first = await api.delete(f"{url}/{code}")
        second = await api.delete(f"{url}/{code}")
        assert (first.status_code, second.status_code) == (202, 202), first.text
        assert first.json()["id"] == second.json()["id"]
        assert (await until_finished(api, first.json()["status_url"]))["state"] == "done"
        third = await api.delete(f"{url}/{code}")
        assert third.json()["id"] == first.json()["id"]

    [connection] = partner_app.connections.values()
    assert list(partner_app.disconnections.values()) == [connection]
    assert len(_paths(partner_app, DISCONNECT_PATH)) == 1
    assert (await integration(api, client_id, code))["state"] == "removed"
    history = (await api.get(f"{url}/history")).json()
    assert history["total"] == 2
    assert [(c["action"], c["state"], c["requested_by_name"]) for c in history["items"]] == [
        ("remove", "done", tenant.admin.name),
        ("add", "done", tenant.admin.name),
    ]

    # Removed, it may be added again: a connection of its own.
    async with change_worker(client, pool, settings.task_queue, partner_app):
        again = await api.post(
            url, json={"code": code, "settings": {"region": "eu", "token": SECRET}}
        )
        assert again.status_code == 202, again.text
        assert (await until_finished(api, again.json()["status_url"]))["state"] == "done"
    assert len(partner_app.connections) == 2


async def test_refused_by_the_app_fails_and_a_retry_connects(
    api: httpx.AsyncClient,
    pool: Pool,
    tenant: Tenant,
    client: Client,
    settings: Settings,
    partner_app: PartnerApp,
) -> None:
    """The app refuses (422): the change fails with our words, the app says failed; a PATCH
    changing nothing tries it again and connects it."""
    client_id = await onboarded_client(pool, tenant, tree=None)
    code = await crm(pool, tenant, partner_app)
    url = f"/v1/clients/{client_id}/integrations"
    partner_app.reject_next(message=f"bad token {SECRET}")
    async with change_worker(client, pool, settings.task_queue, partner_app):
        added = await api.post(
            url, json={"code": code, "settings": {"region": "eu", "token": SECRET}}
        )
        failed = await until_finished(api, added.json()["status_url"])
        assert failed["state"] == "failed"
        assert failed["error"] == "integration 'crm' refused the connection (answered 422)"
        assert (await integration(api, client_id, code))["state"] == "failed"
        retried = await api.patch(f"{url}/{code}", json={"settings": {}})
        assert retried.status_code == 202, retried.text
        assert (await until_finished(api, retried.json()["status_url"]))["state"] == "done"
    assert (await integration(api, client_id, code))["state"] == "connected"
    assert SECRET not in (await api.get(f"{url}/history")).text


async def test_bad_changes_are_refused_naming_the_field(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, partner_app: PartnerApp
) -> None:
    """An app not in the catalogue, a missing or ill-typed setting, an unknown one: 422 naming
    `code` or `settings.<name>`; the same app twice: 409; nothing recorded for any of them."""
    client_id = await onboarded_client(pool, tenant, tree=None)
    code = await crm(pool, tenant, partner_app)
    url = f"/v1/clients/{client_id}/integrations"
    unknown = await api.post(url, json={"code": "nope", "settings": {}})
    assert (unknown.status_code, _fields(unknown)) == (422, ["code"])
    missing = await api.post(url, json={"code": code, "settings": {"region": 3}})
    assert missing.status_code == 422
    assert _fields(missing) == ["settings.region", "settings.token"]
    extra = await api.post(
        url, json={"code": code, "settings": {"region": "eu", "token": "t", "colour": "red"}}
    )
    assert (extra.status_code, _fields(extra)) == (422, ["settings.colour"])
    assert (await api.get(f"{url}/history")).json()["total"] == 0
    assert (await api.patch(f"{url}/{code}", json={"settings": {}})).status_code == 404
    assert (await api.delete(f"{url}/{code}")).status_code == 404

    ok = await api.post(url, json={"code": code, "settings": {"region": "eu", "token": "t"}})
    assert ok.status_code == 202
    twice = await api.post(url, json={"code": code, "settings": {"region": "eu", "token": "t"}})
    assert (twice.status_code, _fields(twice)) == (409, ["code"])
    # Still connecting (no worker here): another change of it waits its turn.
    busy = await api.patch(f"{url}/{code}", json={"settings": {"region": "us"}})
    assert (busy.status_code, _fields(busy)) == (409, ["code"])


async def test_roles_and_tenancy_apply_as_for_other_client_changes(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, partner_app: PartnerApp
) -> None:
    """An accountant reads but changes nothing (403); another firm's client is 404; a client
    still setting up is 409."""
    client_id = await onboarded_client(pool, tenant, tree=None)
    code = await crm(pool, tenant, partner_app)
    url = f"/v1/clients/{client_id}/integrations"
    user = await api.post(
        "/v1/users",
        json={"email": f"acc-{uuid.uuid4().hex[:6]}@ex.com", "name": "A", "role": "accountant"},
    )
    key = await api.post(f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"})
    accountant = {"Authorization": f"Bearer {key.json()['key']}"}
    body = {"code": code, "settings": {"region": "eu", "token": "t"}}
    assert (await api.get(url, headers=accountant)).status_code == 200
    assert (await api.post(url, json=body, headers=accountant)).status_code == 403

    other = await make_tenant(pool)
    assert (await api.get(url, headers=other.auth)).status_code == 404
    assert (await api.post(url, json=body, headers=other.auth)).status_code == 404
    assert (await api.get(f"{url}/history", headers=other.auth)).status_code == 404

    setting_up = await onboarded_client(pool, tenant, tree=None, ready=False)
    refused = await api.post(f"/v1/clients/{setting_up}/integrations", json=body)
    assert refused.status_code == 409
    assert await applied_setup.list_integrations(pool, client_id=setting_up) == []
