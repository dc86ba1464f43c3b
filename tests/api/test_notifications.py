"""POST /v1/clients/{id}/notifications over the real stack (API, worker, PostgreSQL, SMTP sink):
a client kept muted waits visibly and gets no e-mail; switched on, its invitation goes; after the
onboarding, the switch only changes the client; roles, tenants, erasure and bad bodies."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from devstack.smtp_sink import SmtpSink
from domain import search_attributes as sa
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
    "director": {"email": "ines@garnier.example", "first_name": "Inès", "last_name": "Garnier"},
    "notifications": {"keep_muted": True},
    "invitation": {"mode": "immediate"},
}


async def _until(
    api: httpx.AsyncClient, onboarding_id: str, status: str, invitation: str | None = None
) -> dict[str, Any]:
    """The onboarding's view once it has the status (and the invitation that state)."""

    async def view() -> dict[str, Any]:
        answer: dict[str, Any] = (await api.get(f"/v1/onboardings/{onboarding_id}")).json()
        return answer

    return await eventually(
        view,
        until=lambda v: v["status"] == status and invitation in (None, v["invitation"]["state"]),
        what=f"the onboarding {status} with its invitation {invitation or 'in any state'}",
        within=20,
    )


async def _start(api: httpx.AsyncClient, body: dict[str, Any] = BODY) -> tuple[str, str]:
    started = await api.post(
        "/v1/onboardings", json=body, headers={"Idempotency-Key": f"mute-{uuid.uuid4()}"}
    )
    assert started.status_code == 202, started.text
    onboarding_id = started.json()["id"]
    return onboarding_id, str(client_id_for(uuid.UUID(onboarding_id)))


async def test_kept_muted_waits_then_switched_on_the_invitation_goes(
    api: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, pool: Pool, client: Client
) -> None:
    onboarding_id, client_id = await _start(api)
    view = await _until(api, onboarding_id, "WAITING_FOR_UNMUTE")
    # What ops filter on in the Temporal UI: the status, and since when (the stuck search).
    described = await client.get_workflow_handle(
        workflow_id_for(uuid.UUID(onboarding_id))
    ).describe()
    attributes = described.typed_search_attributes
    assert attributes.get(sa.ONBOARDING_STATUS) == "WAITING_FOR_UNMUTE"
    since = attributes.get(sa.STATUS_SINCE)
    assert since is not None and described.start_time < since <= datetime.now(UTC)
    assert view["notifications_muted"] is True
    assert view["invitation"]["state"] == "muted"
    assert "notifications to be switched on" in view["waiting_for"]
    listed = (await api.get("/v1/clients", params={"status": "WAITING_FOR_UNMUTE"})).json()
    assert [c["id"] for c in listed["items"]] == [client_id]
    # Nothing reaches a muted client: exact, from the history once the workflow is waiting.
    handle = client.get_workflow_handle(workflow_id_for(uuid.UUID(onboarding_id)))
    assert await activities_scheduled(handle, "send_invitation") == 0
    assert smtp_sink.handler.messages == []

    switched = await api.post(f"/v1/clients/{client_id}/notifications", json={"enabled": True})
    assert switched.status_code == 200, switched.text
    assert switched.json() | {"onboarding_status": None} == {
        "client_id": client_id,
        "enabled": True,
        "applied": True,
        "through": "onboarding",
        "onboarding_status": None,
        "invitation_state": "pending",
    }
    [mail] = await smtp_sink.handler.arrived(1)
    assert mail.rcpt_tos == ["ines@garnier.example"]
    # The sink has the mail before the activity returns, and "sent" is written after that.
    view = await _until(api, onboarding_id, "READY", invitation="sent")
    assert view["notifications_muted"] is False
    row = await clients.get(pool, client_id=uuid.UUID(client_id))
    assert row is not None and not row.notifications_muted


async def test_switched_off_after_setup_then_the_client_alone_once_finished(
    api: httpx.AsyncClient, worker: Worker, pool: Pool, client: Client
) -> None:
    """While the onboarding runs it writes the switch; once it is over, the API does."""
    body = BODY | {"notifications": {"keep_muted": False}, "invitation": {"mode": "manual"}}
    onboarding_id, client_id = await _start(api, body)
    await _until(api, onboarding_id, "READY")
    off = await api.post(f"/v1/clients/{client_id}/notifications", json={"enabled": False})
    assert off.status_code == 200, off.text
    assert (off.json()["through"], off.json()["applied"]) == ("onboarding", True)
    row = await clients.get(pool, client_id=uuid.UUID(client_id))
    assert row is not None and row.notifications_muted

    # The onboarding ends (here: terminated, as ops may do); the client lives on.
    await client.get_workflow_handle(workflow_id_for(uuid.UUID(onboarding_id))).terminate("over")
    on = await api.post(f"/v1/clients/{client_id}/notifications", json={"enabled": True})
    assert on.status_code == 200, on.text
    assert (on.json()["through"], on.json()["enabled"]) == ("client", True)
    row = await clients.get(pool, client_id=uuid.UUID(client_id))
    assert row is not None and not row.notifications_muted


async def test_refusals_name_the_reason(
    api: httpx.AsyncClient, api_server: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    unknown = await api.post(f"/v1/clients/{uuid.uuid4()}/notifications", json={"enabled": True})
    assert unknown.status_code == 404
    bad = await api.post(f"/v1/clients/{uuid.uuid4()}/notifications", json={"enabled": "maybe"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "enabled"
    extra = await api.post(
        f"/v1/clients/{uuid.uuid4()}/notifications", json={"enabled": True, "x": 1}
    )
    assert extra.status_code == 422
    other = await make_tenant(pool, name="Cabinet Autre")
    foreign = await api_server.post(
        f"/v1/clients/{uuid.uuid4()}/notifications",
        json={"enabled": True},
        headers=other.auth,
    )
    assert foreign.status_code == 404


async def test_the_clients_list_finds_next_weeks_scheduled_invitations(
    api: httpx.AsyncClient, worker: Worker
) -> None:
    """The onboarding projects where its invitation stands: a firm lists the invitations planned
    for next week in one call, and sees a moved one at its new time."""
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    body = BODY | {
        "notifications": {"keep_muted": False},
        "invitation": {"mode": "scheduled", "scheduled_at": at.isoformat()},
    }
    onboarding_id, client_id = await _start(api, body)
    await _until(api, onboarding_id, "READY")
    window = {
        "scheduled_from": datetime.now(UTC).isoformat(),
        "scheduled_to": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
    }

    async def in_window() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await api.get("/v1/clients", params=window)).json()["items"]
        return items

    items = await eventually(in_window, what="a client scheduled next week", within=5)
    assert [(i["id"], i["invitation"]["state"]) for i in items] == [(client_id, "scheduled")]
    assert datetime.fromisoformat(items[0]["invitation"]["scheduled_at"]) == at

    moved = await api.post(
        f"/v1/onboardings/{onboarding_id}/invitation/reschedule",
        json={"scheduled_at": (at + timedelta(days=10)).isoformat()},
    )
    assert moved.status_code == 200, moved.text
    items = await eventually(
        in_window, until=lambda i: not i, what="no client scheduled next week", within=5
    )
    assert items == []  # now planned beyond next week
