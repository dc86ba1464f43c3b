"""The firm's "new clients' notifications stay off until switched on" over the real stack (API,
worker, PostgreSQL, SMTP sink): a new firm keeps them off, an onboarding without keep_muted
follows the firm, keep_muted overrides it both ways, import rows follow it; administrators
change it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from devstack.registry_standin import RegistryStandin
from devstack.smtp_sink import SmtpSink
from domain.onboarding import client_id_for, workflow_id_for
from store import clients
from store.pool import Pool
from tests.eventually import activities_scheduled, eventually
from tests.factories import Tenant, make_tenant

BODY: dict[str, Any] = {
    "client": {
        "first_name": "Inès",
        "last_name": "Garnier",
        "email": "ines@garnier.example",
        "language": "fr",
        "company_name": "Garnier SAS",
    },
    "fiscal_year": {"start": "2026-01-01"},
    "invitation": {"mode": "immediate"},
}


async def _firm(api_server: httpx.AsyncClient, pool: Pool) -> Tenant:
    """A firm made as `onboarding partner create` makes one, its default untouched."""
    tenant = await make_tenant(pool, new_clients_muted=True)
    api_server.headers.update(tenant.auth)
    return tenant


async def _until(api: httpx.AsyncClient, onboarding_id: str, *statuses: str) -> dict[str, Any]:

    async def view() -> dict[str, Any]:
        answer: dict[str, Any] = (await api.get(f"/v1/onboardings/{onboarding_id}")).json()
        return answer

    return await eventually(
        view, until=lambda v: v["status"] in statuses, what=f"the onboarding {statuses}", within=20
    )


async def _onboard(api: httpx.AsyncClient, body: dict[str, Any]) -> tuple[str, uuid.UUID]:
    started = await api.post(
        "/v1/onboardings", json=body, headers={"Idempotency-Key": f"nd-{uuid.uuid4()}"}
    )
    assert started.status_code == 202, started.text
    onboarding_id = started.json()["id"]
    return onboarding_id, client_id_for(uuid.UUID(onboarding_id))


async def _muted(pool: Pool, client_id: uuid.UUID) -> bool:
    row = await clients.get(pool, client_id=client_id)
    assert row is not None
    return row.notifications_muted


async def test_new_firm_onboarding_without_keep_muted_ends_muted(
    api_server: httpx.AsyncClient, client: Client, worker: Worker, smtp_sink: SmtpSink, pool: Pool
) -> None:
    """A new firm's default keeps new clients muted: setup completes, nothing is sent."""
    await _firm(api_server, pool)
    assert (await api_server.get("/v1/notification-defaults")).json() == {"new_clients_muted": True}
    onboarding_id, client_id = await _onboard(api_server, BODY)
    view = await _until(api_server, onboarding_id, "WAITING_FOR_UNMUTE", "READY")
    assert view["status"] == "WAITING_FOR_UNMUTE"
    assert view["notifications_muted"] is True
    assert await _muted(pool, client_id)
    # Nothing sent: exact, from the history once the workflow is waiting.
    handle = client.get_workflow_handle(workflow_id_for(uuid.UUID(onboarding_id)))
    assert await activities_scheduled(handle, "send_invitation") == 0
    assert smtp_sink.handler.messages == []


async def test_setting_off_unmutes_at_the_end_of_setup(
    api_server: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, pool: Pool
) -> None:
    """Switched off, the firm has today's behaviour: unmuted when setup completes, invited."""
    await _firm(api_server, pool)
    put = await api_server.put("/v1/notification-defaults", json={"new_clients_muted": False})
    assert put.status_code == 200, put.text
    assert (await api_server.get("/v1/notification-defaults")).json()["new_clients_muted"] is False
    onboarding_id, client_id = await _onboard(api_server, BODY)
    view = await _until(api_server, onboarding_id, "READY", "WAITING_FOR_UNMUTE")
    assert (view["status"], view["notifications_muted"]) == ("READY", False)
    assert not await _muted(pool, client_id)
    [mail] = await smtp_sink.handler.arrived(1)
    assert mail.rcpt_tos == ["ines@garnier.example"]


async def test_keep_muted_in_the_request_overrides_the_firm_both_ways(
    api_server: httpx.AsyncClient, worker: Worker, pool: Pool
) -> None:
    """keep_muted false with the firm's muting on unmutes; true with it off keeps muted."""
    await _firm(api_server, pool)
    unmuted_id, unmuted_client = await _onboard(
        api_server, BODY | {"notifications": {"keep_muted": False}}
    )
    await _until(api_server, unmuted_id, "READY")
    assert not await _muted(pool, unmuted_client)

    await api_server.put("/v1/notification-defaults", json={"new_clients_muted": False})
    muted_id, muted_client = await _onboard(
        api_server, BODY | {"notifications": {"keep_muted": True}}
    )
    await _until(api_server, muted_id, "WAITING_FOR_UNMUTE")
    assert await _muted(pool, muted_client)


async def test_import_rows_follow_the_firm_setting(
    api_server: httpx.AsyncClient, worker: Worker, registry: RegistryStandin, pool: Pool
) -> None:
    """A file's rows (which never say keep_muted) get the firm's setting when it starts."""
    await _firm(api_server, pool)
    data = (
        "Prénom;Nom;Courriel;Langue;Société;SIRET\r\n"
        "Hélène;Lefèvre;helene@danone.example;fr;Danone;55203253400646\r\n"
    ).encode("cp1252")
    started = await api_server.post(
        "/v1/imports",
        files={"file": ("clients.csv", data, "text/csv")},
        data={"invitation_mode": "immediate"},
        headers={"Idempotency-Key": f"nd-import-{uuid.uuid4()}"},
    )
    assert started.status_code == 202, started.text

    async def clients_listed() -> dict[str, Any]:
        answer: dict[str, Any] = (await api_server.get("/v1/clients")).json()
        return answer

    listed = await eventually(
        clients_listed,
        until=lambda ls: [c["onboarding"]["status"] for c in ls["items"]] == ["WAITING_FOR_UNMUTE"],
        what="the imported client waiting for unmute",
        within=20,
    )
    [row] = listed["items"]
    assert row["onboarding"]["status"] == "WAITING_FOR_UNMUTE", row
    assert await _muted(pool, uuid.UUID(row["id"]))


async def test_only_administrators_change_the_setting(
    api_server: httpx.AsyncClient, pool: Pool
) -> None:
    """A client manager reads it and is refused the change (403); a non-boolean is 422."""
    await _firm(api_server, pool)
    user = await api_server.post(
        "/v1/users",
        json={"email": f"cm-{uuid.uuid4().hex[:6]}@ex.com", "name": "C", "role": "client_manager"},
    )
    key = await api_server.post(f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"})
    bad = await api_server.put("/v1/notification-defaults", json={"new_clients_muted": "yes"})
    assert bad.status_code == 422
    assert "new_clients_muted" in bad.text
    manager = {"Authorization": f"Bearer {key.json()['key']}"}
    assert (await api_server.get("/v1/notification-defaults", headers=manager)).status_code == 200
    refused = await api_server.put(
        "/v1/notification-defaults", json={"new_clients_muted": False}, headers=manager
    )
    assert refused.status_code == 403
    assert (await api_server.get("/v1/notification-defaults")).json()["new_clients_muted"] is True
