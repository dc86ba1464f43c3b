"""A real onboarding end to end on the dev server: HTTP -> Temporal -> PostgreSQL, the registry
stand-in and SMTP."""

from __future__ import annotations

import uuid

import httpx
from temporalio.worker import Worker

from devstack.registry_standin import RegistryStandin
from devstack.smtp_sink import SmtpSink
from store import clients, email_log, folders
from store.pool import Pool
from tests.e2e.helpers import ACCEPT, wait_status

GED = {
    "code": "ged",
    "name": "GED cabinet",
    "folders": [
        {"name": "Juridique"},
        {"name": "Comptabilité", "per_fiscal_year": True, "children": [{"name": "Banque"}]},
    ],
}


async def test_danone_head_office_reaches_ready_with_twelve_monthly_folders(
    api: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    registry: RegistryStandin,
    pool: Pool,
) -> None:
    """DANONE's head office: company filled from the registry, 12 month folders for a calendar
    year, director invited in French, and the status shows every step."""
    assert (await api.post("/v1/folder-trees", json=GED)).status_code == 201
    julie = await api.post(
        "/v1/users",
        json={"email": "julie@cabinet.example", "name": "Julie", "role": "accountant"},
    )
    assert julie.status_code == 201, julie.text
    response = await api.post(
        "/v1/onboardings",
        json={
            "client": {
                "first_name": "Antoine",
                "last_name": "de Saint-Affrique",
                "email": "direction@danone.example",
                "language": "fr",
                "siret": "552 032 534 00646",
                "case_manager": "Julie",
            },
            "fiscal_year": {"start": "2026-01-01"},
            "overrides": {"folder_tree": "ged", "collaborator_ids": [julie.json()["id"]]},
        },
        headers={"Idempotency-Key": f"danone-{uuid.uuid4()}"},
    )
    assert response.status_code == 202, response.text
    onboarding_id = response.json()["id"]

    body = await wait_status(api, onboarding_id, "READY", "FAILED")
    assert body["status"] == "READY", body
    mails = {m.rcpt_tos[0]: m for m in await smtp_sink.handler.arrived(2)}
    assert set(mails) == {"direction@danone.example", "julie@cabinet.example"}
    ready = mails["julie@cabinet.example"].message
    assert "DANONE" in ready["Subject"]
    received = mails["direction@danone.example"]
    assert received.message["Subject"].startswith("Cabinet Test")
    text = received.message.get_body(preferencelist=("plain",))
    assert text is not None
    accept = ACCEPT.search(text.get_content())
    assert accept, "the invitation carries its accept link"
    assert (await api.post(f"{accept.group(1)}/accept")).status_code == 200

    body = await wait_status(api, onboarding_id, "COMPLETED", "FAILED")
    assert body["status"] == "COMPLETED", body
    states = {s["name"]: s["state"] for s in body["steps"]}
    assert states == {
        "resolve_setup": "completed",
        "company_lookup": "completed",
        "create_client": "completed",
        "folders": "completed",
        "collaborators_and_subscription": "completed",
        "integrations": "skipped",
        "complete_setup": "completed",
        "invitation": "completed",
    }
    assert body["company"]["name"] == "DANONE"
    assert body["company"]["is_head_office"] is True
    assert registry.stats.total_requests == 1

    client = await clients.get(pool, client_id=uuid.UUID(body["client_id"]))
    assert client is not None
    assert (client.name, client.siret, client.case_manager) == ("DANONE", "55203253400646", "Julie")
    assert client.status == "ready" and not client.notifications_muted

    rows = await folders.list_folders(pool, client_id=client.id)
    months = [f for f in rows if f.kind == "month"]
    assert len(months) == 12
    assert months[0].path == "Comptabilité/2026-01 Janvier"
    assert {f.path for f in rows} >= {"Juridique", "Comptabilité", "Comptabilité/Banque"}

    logged = await email_log.list_for_onboarding(pool, onboarding_id=uuid.UUID(onboarding_id))
    assert sorted((row.purpose, row.status) for row in logged) == [
        ("client_ready", "sent"),
        ("invitation", "sent"),
    ]

    listed = await api.get(
        "/v1/onboardings", params={"status": "COMPLETED", "case_manager": "Julie"}
    )
    assert [item["id"] for item in listed.json()["items"]] == [onboarding_id]
    other = await api.get("/v1/onboardings", params={"case_manager": "Marc"})
    assert other.json()["items"] == []
