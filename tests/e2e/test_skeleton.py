"""The walking skeleton end to end: HTTP -> Temporal dev server -> PostgreSQL -> SMTP."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from temporalio.worker import Worker

from devstack.smtp_sink import SmtpSink
from store import clients, email_log
from store.pool import Pool


async def _wait_status(api: httpx.AsyncClient, onboarding_id: str, status: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(200):
        response = await api.get(f"/v1/onboardings/{onboarding_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] == status:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"onboarding never reached {status}: {body}")


async def test_onboarding_creates_client_and_sends_welcome(
    api: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, pool: Pool
) -> None:
    """POST starts a workflow that writes the client row and e-mails it through real SMTP."""
    response = await api.post(
        "/v1/onboardings",
        json={
            "client": {"name": "Boulangerie Dupont", "email": "anne@dupont.fr", "language": "fr"}
        },
        headers={"Idempotency-Key": f"e2e-{uuid.uuid4()}"},
    )
    assert response.status_code == 202, response.text
    onboarding_id = response.json()["id"]

    body = await _wait_status(api, onboarding_id, "COMPLETED")
    assert [(s["name"], s["state"]) for s in body["steps"]] == [
        ("resolve_setup", "completed"),
        ("create_client", "completed"),
        ("complete_setup", "completed"),
        ("send_welcome", "completed"),
    ]
    assert all(s["started_at"] and s["finished_at"] for s in body["steps"])

    client = await clients.get(pool, client_id=uuid.UUID(str(body["client_id"])))
    assert client is not None
    assert (client.name, client.email, client.language) == (
        "Boulangerie Dupont",
        "anne@dupont.fr",
        "fr",
    )
    assert client.status == "ready" and not client.notifications_muted

    [received] = smtp_sink.handler.wait_for(1)
    message = received.message
    assert received.rcpt_tos == ["anne@dupont.fr"]
    assert message["Subject"] == "Bienvenue chez Cabinet Test"
    assert "Bonjour Boulangerie Dupont" in message.get_content()
    [logged] = await email_log.list_for_onboarding(pool, onboarding_id=uuid.UUID(onboarding_id))
    assert logged.status == "sent" and logged.message_id == message["Message-ID"].strip()

    listed = await api.get("/v1/onboardings", params={"status": "COMPLETED"})
    assert onboarding_id in [item["id"] for item in listed.json()["items"]]
