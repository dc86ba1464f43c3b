"""Personal data in Temporal: after a whole onboarding through the real stack (API, workers,
registry stand-in, partner app, SMTP, invitation accepted), the history Temporal stores holds
only ciphertext; the codec server and `temporal workflow show --codec-endpoint` read it back."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from core.settings import Settings
from devstack.registry_standin import RegistryStandin
from devstack.smtp_sink import SmtpSink
from devstack.temporal_server import temporal_cli
from tests.e2e.helpers import ACCEPT, wait_status
from tests.eventually import eventually

TOKEN = "codec-e2e-token-9c2f41"
FIRST, LAST = "Bénédicte", "Vandenbroucke"
EMAIL = "benedicte.vdb@danone.example"
DIRECTOR_EMAIL = "direction.generale@danone.example"
NATIONAL = ("85073003328", "85.07.30-033.28")
PERSONAL = [FIRST, LAST, EMAIL, DIRECTOR_EMAIL, *NATIONAL]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The session's settings with a codec token, as an ops deployment sets one."""
    return settings.model_copy(update={"codec_token": SecretStr(TOKEN)})


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere in a protobuf message (inputs, results, failures, memos, headers,
    summaries, search attributes), found by walking its fields."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if isinstance(value, Message):
            yield from payloads_in(value)
            continue
        # A repeated or map field: map values, or the list itself.
        items = value.values() if hasattr(value, "values") else value
        for item in items:
            if isinstance(item, Message):
                yield from payloads_in(item)


def found(text: bytes) -> set[str]:
    lowered = text.lower()
    return {needle for needle in PERSONAL if needle.lower().encode() in lowered}


async def onboard_everything(api: httpx.AsyncClient, smtp: SmtpSink) -> str:
    """An onboarding with SIRET, an integration, a national number, a director other than the
    contact, its invitation sent and accepted; returns the workflow id."""
    portal = {"code": "portal", "name": "Client portal", "kind": "redirection"}
    created = await api.post("/v1/integrations", json=portal)
    assert created.status_code == 201, created.text
    response = await api.post(
        "/v1/onboardings",
        json={
            "client": {
                "first_name": FIRST,
                "last_name": LAST,
                "email": EMAIL,
                "language": "fr",
                "siret": "552 032 534 00646",
                "national_number": NATIONAL[1],
            },
            "director": {"email": DIRECTOR_EMAIL, "first_name": FIRST, "last_name": LAST},
            "fiscal_year": {"start": "2026-01-01"},
            "overrides": {"integrations": [{"code": "portal"}]},
        },
        headers={"Idempotency-Key": f"privacy-{uuid.uuid4()}"},
    )
    assert response.status_code == 202, response.text
    onboarding_id, workflow_id = response.json()["id"], response.json()["workflow_id"]
    body = await wait_status(api, onboarding_id, "READY", "FAILED")
    assert body["status"] == "READY", body

    invitation = next(m for m in await smtp.handler.arrived(1) if DIRECTOR_EMAIL in m.rcpt_tos)
    text = invitation.message.get_body(preferencelist=("plain",))
    assert text is not None
    accept = ACCEPT.search(text.get_content())
    assert accept, "the invitation carries its accept link"
    assert (await api.post(f"{accept.group(1)}/accept")).status_code == 200
    body = await wait_status(api, onboarding_id, "COMPLETED", "FAILED")
    assert body["status"] == "COMPLETED", body
    states = {s["name"]: s["state"] for s in body["steps"]}
    assert states["integrations"] == "completed" and states["company_lookup"] == "completed"
    return str(workflow_id)


async def test_history_holds_no_personal_data_and_the_codec_reads_it(
    api: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    registry: RegistryStandin,
    settings: Settings,
) -> None:
    """Raw history bytes (every event, every payload decoded from base64, the JSON export, the
    workflow id, search attributes and memo) hold none of the client's personal data; decoded
    through the codec server, the same history holds all of it."""
    workflow_id = await onboard_everything(api, smtp_sink)

    raw = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
    handle = raw.get_workflow_handle(workflow_id)
    history = await handle.fetch_history()
    assert len(history.events) > 30
    payloads = [p for event in history.events for p in payloads_in(event)]
    assert len(payloads) > 20
    stored = b"\n".join(
        [
            *(event.SerializeToString() for event in history.events),
            *(p.data for p in payloads),
            history.to_json().encode(),
        ]
    )
    assert found(stored) == set(), "personal data in clear in Temporal's history"

    # Workflow ids, search attributes and memos bypass the codec: what describe and the
    # visibility listing show must hold no personal data either.
    described = await handle.describe()
    names = {pair.key.name for pair in described.typed_search_attributes}
    assert names >= {"PartnerId", "OnboardingStatus"}
    assert found(described.raw_description.SerializeToString()) == set()

    async def listing() -> list[Any]:
        return [w async for w in raw.list_workflows(f"WorkflowId = '{workflow_id}'")]

    # Visibility is eventually consistent.
    listed = await eventually(listing, what="the onboarding listed", within=5, every=0.1)
    assert listed, "the listing shows the onboarding"
    assert found(b"".join(w.raw_info.SerializeToString() for w in listed)) == set()

    decoded = await api.post(
        "/codec/decode",
        json={"payloads": [json_format.MessageToDict(p) for p in payloads]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert decoded.status_code == 200, decoded.text
    clear = b"\n".join(base64.b64decode(p.get("data", "")) for p in decoded.json()["payloads"])
    assert found(clear) == {FIRST, LAST, EMAIL, DIRECTOR_EMAIL, NATIONAL[0]}

    # What the README tells ops to run: the CLI decodes through the same codec server.
    shown = await _temporal_show(settings, workflow_id, codec=str(api.base_url).rstrip("/"))
    assert {FIRST, EMAIL, DIRECTOR_EMAIL} <= found(shown)
    assert found(await _temporal_show(settings, workflow_id, codec=None)) == set()


async def _temporal_show(settings: Settings, workflow_id: str, *, codec: str | None) -> bytes:
    command = [
        str(temporal_cli()),
        "workflow",
        "show",
        "--workflow-id",
        workflow_id,
        "--address",
        settings.temporal_address,
        "--namespace",
        settings.temporal_namespace,
        "--output",
        "json",
    ]
    if codec is not None:
        command += ["--codec-endpoint", f"{codec}/codec", "--codec-auth", f"Bearer {TOKEN}"]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode(errors="replace")
    # JSON output carries payload data in base64: search it decoded as well.
    return b"\n".join([out, *_base64_data(json.loads(out))])


def _base64_data(node: object) -> Iterator[bytes]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data" and isinstance(value, str):
                yield base64.b64decode(value + "=" * (-len(value) % 4))
            else:
                yield from _base64_data(value)
    elif isinstance(node, list):
        for item in node:
            yield from _base64_data(item)
