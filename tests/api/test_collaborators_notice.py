"""PUT /v1/clients/{id}/collaborators: the users added are sent `client_ready` in their own
language by a workflow (real API, worker, Temporal, PostgreSQL and SMTP), once."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from devstack.smtp_sink import SmtpSink
from domain.notices import collaborators_notice_id as workflow_id_for
from store import applied_setup
from store.pool import Pool
from tests.factories import Tenant, make_client
from workflows.collaborators import CollaboratorsNoticeWorkflow

CLIENT_NAME = "Boulangerie Martin"


async def _user(api: httpx.AsyncClient, language: str) -> tuple[uuid.UUID, str]:
    email = f"{language}-{uuid.uuid4().hex[:8]}@firm.example.com"
    created = await api.post(
        "/v1/users",
        json={"email": email, "name": language, "role": "accountant", "language": language},
    )
    assert created.status_code == 201, created.text
    assert created.json()["language"] == language
    return uuid.UUID(created.json()["id"]), email


async def test_added_collaborator_told_once_in_their_language_removed_one_never(
    api: httpx.AsyncClient,
    pool: Pool,
    tenant: Tenant,
    worker: Worker,
    client: Client,
    smtp_sink: SmtpSink,
) -> None:
    """Replacing a German template user by a Dutch one: the Dutch user gets one client_ready in
    Dutch; the same PUT again, or removing and adding back, sends nothing more; the German user
    removed gets nothing."""
    _, client_id = await make_client(pool, tenant, language="fr", name=CLIENT_NAME, muted=False)
    de_id, de_email = await _user(api, "de")
    nl_id, nl_email = await _user(api, "nl")
    await applied_setup.assign_collaborators(pool, client_id=client_id, user_ids=[de_id])

    changed = await api.put(
        f"/v1/clients/{client_id}/collaborators", json={"user_ids": [str(nl_id)]}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["added"], changed.json()["removed"]) == ([str(nl_id)], [str(de_id)])
    handle = client.get_workflow_handle_for(
        CollaboratorsNoticeWorkflow.run, workflow_id_for(client_id, [nl_id])
    )
    told = await asyncio.wait_for(handle.result(), timeout=15)
    assert told.notified == 1
    first_run = (await handle.describe()).run_id
    [received] = await smtp_sink.handler.arrived(1, within=5)
    assert received.rcpt_tos == [nl_email]
    assert str(received.message["Subject"]) == f"Klant klaar: {CLIENT_NAME}"

    again = await api.put(f"/v1/clients/{client_id}/collaborators", json={"user_ids": [str(nl_id)]})
    assert (again.json()["added"], again.json()["removed"]) == ([], [])
    # Removed and added back: the same change as the first, whose run has completed.
    assert (await api.put(f"/v1/clients/{client_id}/collaborators", json={"user_ids": []})).json()[
        "removed"
    ] == [str(nl_id)]
    back = await api.put(f"/v1/clients/{client_id}/collaborators", json={"user_ids": [str(nl_id)]})
    assert back.json()["added"] == [str(nl_id)]
    latest = client.get_workflow_handle(workflow_id_for(client_id, [nl_id]))
    assert (await latest.describe()).run_id == first_run
    # No new run, and the only one has ended (its result above): nothing more can be sent.
    assert [m.rcpt_tos for m in smtp_sink.handler.messages] == [[nl_email]]
    assert de_email not in {r for m in smtp_sink.handler.messages for r in m.rcpt_tos}
