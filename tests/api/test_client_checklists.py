"""A checklist for a client that already exists, over the real stack (API, worker, PostgreSQL,
SMTP sink): assigned to an invited director, one e-mail in their language however often asked;
to a muted client, none until switched on, then one; replaced and withdrawn, the director's page
follows; roles and tenants as for every change of a client."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.checklist_notice import (
    ChecklistNoticeActivities,
    ChecklistNoticeInput,
    NoticeOutcome,
)
from activities.email import EmailActivities, SmtpConfig
from activities.invitations import InvitationActivities
from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from domain.notices import checklist_notice_id as workflow_id_for
from domain.onboarding import client_id_for
from email_templates import Renderer
from store import email_log
from store.pool import Pool
from tests.eventually import activities_completed, eventually
from tests.factories import Tenant, make_client, make_tenant
from workflows.checklist_notice import ChecklistNoticeWorkflow

CHECKLIST: dict[str, Any] = {
    "name": "Jaarafsluiting",
    "language": "nl",
    "items": [
        {"key": "bank", "kind": "document", "label": "Bankafschriften van december"},
        {"key": "stock", "kind": "question", "label": "Waarde van de voorraad?"},
    ],
}
OTHER: dict[str, Any] = {
    "name": "Btw-aangifte",
    "language": "nl",
    "items": [{"key": "sales", "kind": "question", "label": "Omzet van het kwartaal?"}],
}
BODY: dict[str, Any] = {
    "client": {
        "first_name": "Pieter",
        "last_name": "Janssens",
        "email": "pieter@janssens.example",
        "language": "nl",
        "company_name": "Janssens BV",
    },
    "fiscal_year": {"start": "2026-01-01"},
    "invitation": {"mode": "immediate"},
}
LINK = re.compile(r"http://\S+/v1/invitations/([A-Za-z0-9._~-]+)")


async def _invited_client(
    api: httpx.AsyncClient, smtp_sink: SmtpSink
) -> tuple[uuid.UUID, uuid.UUID, str]:
    """(onboarding, client, invitation token) of a client set up and invited for real."""
    started = await api.post(
        "/v1/onboardings", json=BODY, headers={"Idempotency-Key": f"cc-{uuid.uuid4()}"}
    )
    assert started.status_code == 202, started.text
    onboarding_id = uuid.UUID(started.json()["id"])
    [mail] = await smtp_sink.handler.arrived(1)
    text = mail.message.get_body(preferencelist=("plain",))
    assert text is not None
    found = LINK.search(text.get_content())
    assert found is not None

    async def invitation() -> dict[str, Any]:
        view: dict[str, Any] = (await api.get(f"/v1/onboardings/{onboarding_id}")).json()
        invitation: dict[str, Any] = view["invitation"]
        return invitation

    # "sent" is written once the server has the mail.
    await eventually(
        invitation, until=lambda i: i["state"] == "sent", what="the invitation sent", within=10
    )
    return onboarding_id, client_id_for(onboarding_id), found.group(1)


async def _checklist(api: httpx.AsyncClient, body: dict[str, Any] = CHECKLIST) -> str:
    made = await api.post("/v1/checklists", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def test_assign_to_invited_client_sends_one_email_in_their_language(
    api: httpx.AsyncClient,
    client: Client,
    worker: Worker,
    smtp_sink: SmtpSink,
    pool: Pool,
    settings: Settings,
    tenant: Tenant,
) -> None:
    """Sent twice, the request changes nothing more and the director gets one e-mail, in Dutch,
    linking to their checklist page, which shows it; the send repeated (a worker restarted
    mid-way retries it) finds the e-mail log and sends nothing."""
    onboarding_id, client_id, token = await _invited_client(api, smtp_sink)
    checklist_id = await _checklist(api)
    first = await api.put(f"/v1/clients/{client_id}/checklist", json={"checklist_id": checklist_id})
    assert first.status_code == 200, first.text
    again = await api.put(f"/v1/clients/{client_id}/checklist", json={"checklist_id": checklist_id})
    assert again.status_code == 200, again.text
    assert first.json()["assigned_at"] == again.json()["assigned_at"]
    [_, notice] = await smtp_sink.handler.arrived(2)
    assert notice.rcpt_tos == ["pieter@janssens.example"]
    text = notice.message.get_body(preferencelist=("plain",))
    assert text is not None
    content = text.get_content()
    assert "Jaarafsluiting" in content and "Bankafschriften van december" in content
    assert "Met vriendelijke groeten" in content
    assert f"/v1/invitations/{token}/checklist" in content

    repeated = await ActivityEnvironment().run(
        _notice_activities(pool, settings).notify_checklist,
        ChecklistNoticeInput(partner_id=tenant.partner.id, client_id=client_id, assignment=1),
    )
    assert repeated.outcome == NoticeOutcome.already_sent
    # The notice's own run has ended too: neither can still send.
    await client.get_workflow_handle(workflow_id_for(client_id, 1)).result()
    assert len(smtp_sink.handler.messages) == 2
    logged = await email_log.list_for_onboarding(pool, onboarding_id=onboarding_id)
    assert [(r.purpose, r.sequence, r.status) for r in logged if r.purpose != "invitation"] == [
        ("checklist_assigned", 1, "sent")
    ]
    page = await api.get(f"/v1/invitations/{token}/checklist")
    assert page.status_code == 200, page.text
    assert [i["key"] for i in page.json()["items"]] == ["bank", "stock"]


def _notice_activities(pool: Pool, settings: Settings) -> ChecklistNoticeActivities:
    """The notice's activities built as worker/main.py builds them (same SMTP, keys)."""
    email = EmailActivities(pool, SmtpConfig.from_settings(settings), Renderer())
    return ChecklistNoticeActivities(
        InvitationActivities(
            email,
            secret_key=settings.secret_key.get_secret_value(),
            public_base_url=settings.public_base_url,
        )
    )


async def test_assign_to_muted_client_sends_nothing_until_switched_on(
    api: httpx.AsyncClient, client: Client, worker: Worker, smtp_sink: SmtpSink
) -> None:
    """An invited client switched off: the notice waits; switched on, exactly one e-mail."""
    _, client_id, _ = await _invited_client(api, smtp_sink)
    off = await api.post(f"/v1/clients/{client_id}/notifications", json={"enabled": False})
    assert off.status_code == 200, off.text
    checklist_id = await _checklist(api)
    put = await api.put(f"/v1/clients/{client_id}/checklist", json={"checklist_id": checklist_id})
    assert put.status_code == 200, put.text
    run = client.get_workflow_handle(workflow_id_for(client_id, 1))
    await eventually(
        lambda: activities_completed(run, "notify_checklist"),
        what="the notice's first check (muted) done",
    )
    assert len(smtp_sink.handler.messages) == 1  # the invitation only

    on = await api.post(f"/v1/clients/{client_id}/notifications", json={"enabled": True})
    assert on.status_code == 200, on.text
    [_, notice] = await smtp_sink.handler.arrived(2)
    assert notice.message["Subject"].endswith("Janssens BV")
    await run.result()  # the notice has ended: nothing more of it can come
    assert len(smtp_sink.handler.messages) == 2


async def test_assign_before_the_invitation_sends_no_separate_email(
    api: httpx.AsyncClient,
    client: Client,
    worker: Worker,
    smtp_sink: SmtpSink,
    pool: Pool,
    tenant: Tenant,
) -> None:
    """Not invited yet: no notice (the invitation, when it goes, lists the checklist)."""
    _, client_id = await make_client(pool, tenant, muted=False)
    checklist_id = await _checklist(api)
    put = await api.put(f"/v1/clients/{client_id}/checklist", json={"checklist_id": checklist_id})
    assert put.status_code == 200, put.text
    assert put.json()["missing_required"] == ["bank", "stock"]
    notice = client.get_workflow_handle_for(
        ChecklistNoticeWorkflow.run, workflow_id_for(client_id, 1)
    )
    ended = await notice.result()
    assert ended.outcome == NoticeOutcome.not_invited
    assert smtp_sink.handler.messages == []


async def test_replace_then_withdraw_the_directors_page_follows(
    api: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink
) -> None:
    """Replaced: the page shows the new one (answers of the old one gone), the director is told
    again; withdrawn: the page and the firm's read have none."""
    _, client_id, token = await _invited_client(api, smtp_sink)
    first = await _checklist(api)
    await api.put(f"/v1/clients/{client_id}/checklist", json={"checklist_id": first})
    answered = await api.put(
        f"/v1/invitations/{token}/checklist", json={"answers": {"stock": "12 000"}}
    )
    assert answered.status_code == 200, answered.text
    await smtp_sink.handler.arrived(2)

    replaced = await api.put(
        f"/v1/clients/{client_id}/checklist", json={"checklist_id": await _checklist(api, OTHER)}
    )
    assert replaced.status_code == 200, replaced.text
    assert [i["key"] for i in replaced.json()["items"]] == ["sales"]
    assert replaced.json()["missing_required"] == ["sales"]
    page = (await api.get(f"/v1/invitations/{token}/checklist")).json()
    assert [i["key"] for i in page["items"]] == ["sales"]
    await smtp_sink.handler.arrived(3)

    withdrawn = await api.delete(f"/v1/clients/{client_id}/checklist")
    assert withdrawn.status_code == 204, withdrawn.text
    assert (await api.get(f"/v1/clients/{client_id}/checklist")).status_code == 404
    assert (await api.get(f"/v1/invitations/{token}/checklist")).status_code == 404
    assert (await api.delete(f"/v1/clients/{client_id}/checklist")).status_code == 404


async def test_checklist_change_roles_tenants_and_bad_ids(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, worker: Worker
) -> None:
    """An accountant is refused (403), another firm's client is 404, an unknown checklist is a
    422 naming checklist_id; nothing changed by the refusals."""
    _, client_id = await make_client(pool, tenant, muted=False)
    checklist_id = await _checklist(api)
    user = await api.post(
        "/v1/users",
        json={"email": f"acc-{uuid.uuid4().hex[:6]}@ex.com", "name": "A", "role": "accountant"},
    )
    key = await api.post(f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"})
    accountant = {"Authorization": f"Bearer {key.json()['key']}"}
    refused = await api.put(
        f"/v1/clients/{client_id}/checklist",
        json={"checklist_id": checklist_id},
        headers=accountant,
    )
    assert refused.status_code == 403
    other = await make_tenant(pool, "Autre cabinet")
    _, foreign = await make_client(pool, other, muted=False)
    assert (
        await api.put(f"/v1/clients/{foreign}/checklist", json={"checklist_id": checklist_id})
    ).status_code == 404
    assert (await api.delete(f"/v1/clients/{foreign}/checklist")).status_code == 404
    unknown = await api.put(
        f"/v1/clients/{client_id}/checklist", json={"checklist_id": str(uuid.uuid4())}
    )
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.json()["errors"]] == ["checklist_id"]
    assert (await api.get(f"/v1/clients/{client_id}/checklist")).status_code == 404
