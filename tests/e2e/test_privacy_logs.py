"""Personal data and invitation tokens never reach a log line: a whole onboarding through the API
(real uvicorn, access log on) and the workers, with an SMTP refusal at RCPT, a temporary refusal
and a bounce at DATA (each reply quoting the address, as real servers do), the invitation read and
accepted by its token, and a listing filtered by case manager; every logger at DEBUG."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any
from urllib.parse import unquote_plus

import httpx
import pytest
from fastapi import FastAPI
from temporalio.worker import Worker

from api import problem_handlers
from core.logging import JsonFormatter
from devstack.registry_standin import RegistryStandin
from devstack.serving import serve_app
from devstack.smtp_sink import SmtpSink
from store import email_log
from store.pool import Pool
from tests.e2e.helpers import ACCEPT, wait_status
from tests.eventually import eventually

FIRST, LAST = "Gwenaëlle", "Vercruysse"
EMAIL = "gwenaelle.vercruysse@mailbox.example"
DIRECTOR = "g.vercruysse.direction@mailbox.example"
NATIONAL = ("85073003328", "85.07.30-033.28")
CASE_MANAGER = "Ottoline Brabançon"
PERSONAL = [FIRST, LAST, EMAIL, DIRECTOR, *NATIONAL, CASE_MANAGER]

# Loggers of the outside world this test fakes (the SMTP server, the company registry): their
# logs are not ours, and a real mail server does log recipients.
OUTSIDE = ("mail.log", "devstack.smtp_sink", "devstack.registry_standin")


def leaks(text: str) -> set[str]:
    lowered = text.lower()
    return {needle for needle in PERSONAL if needle.lower() in lowered}


def record_text(record: logging.LogRecord) -> str:
    """All a handler could print of a record: the JSON line (message with args, extras,
    formatted exception), plus the raw record (msg, args, exc_info, extras) in repr; and all of
    it URL-decoded, since a query string carries `%40` for `@`."""
    text = JsonFormatter().format(record) + "\n" + repr(vars(record))
    return text + "\n" + unquote_plus(text)


async def wait_bounce(api: httpx.AsyncClient, onboarding_id: str, *, code: str) -> dict[str, Any]:
    """The status once the invitation bounced with this SMTP reply code."""

    async def view() -> dict[str, Any]:
        body: dict[str, Any] = (await api.get(f"/v1/onboardings/{onboarding_id}")).json()
        return body

    return await eventually(
        view,
        until=lambda body: (
            body["invitation"]["state"] == "bounced"
            and code in (body["invitation"]["last_error"] or "")
        ),
        what=f"the invitation bounced with {code}",
        within=40,
        every=0.1,
    )


async def test_full_onboarding_logs_no_personal_data_nor_token(
    api: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    registry: RegistryStandin,
    pool: Pool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Refused, deferred, bounced, then delivered and accepted: no log record (message, args,
    extras, exception) holds the client's names, e-mails, national number, case manager or the
    invitation token; nor does the status or the e-mail log's error."""
    caplog.set_level(logging.DEBUG)
    handler = smtp_sink.handler
    handler.refused_recipients[DIRECTOR] = (
        f"550 5.1.1 <{DIRECTOR}>: Recipient address rejected: {FIRST} {LAST} unknown"
    )
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
                "case_manager": CASE_MANAGER,
            },
            "director": {"email": DIRECTOR, "first_name": FIRST, "last_name": LAST},
            "fiscal_year": {"start": "2026-01-01"},
        },
        headers={"Idempotency-Key": f"logs-{uuid.uuid4()}"},
    )
    assert response.status_code == 202, response.text
    onboarding_id = response.json()["id"]
    statuses = [await wait_bounce(api, onboarding_id, code="550")]

    # Resent: first a temporary refusal (retried by Temporal), then a bounce at DATA.
    handler.refused_recipients.clear()
    handler.scripted_replies += [
        f"451 4.2.1 <{DIRECTOR}> mailbox of {LAST} busy, try later",
        f"554 5.7.1 <{DIRECTOR}>: message refused for {FIRST} {LAST}",
    ]
    resend = f"/v1/onboardings/{onboarding_id}/invitation/resend"
    assert (await api.post(resend)).status_code == 200
    statuses.append(await wait_bounce(api, onboarding_id, code="554"))

    # Third time delivered; the director opens the link and accepts.
    assert (await api.post(resend)).status_code == 200
    [invitation] = [m for m in await handler.arrived(1) if DIRECTOR in m.rcpt_tos]
    text = invitation.message.get_body(preferencelist=("plain",))
    assert text is not None
    accept = ACCEPT.search(text.get_content())
    assert accept, "the invitation carries its accept link"
    link = accept.group(1)
    token = link.rsplit("/", 1)[1]
    assert (await api.get(link)).status_code == 200
    assert (await api.post(f"{link}/accept")).status_code == 200
    statuses.append(await wait_status(api, onboarding_id, "COMPLETED", "FAILED"))
    assert statuses[-1]["status"] == "COMPLETED", statuses[-1]
    listed = await api.get(
        "/v1/onboardings",
        params={"case_manager": CASE_MANAGER, "q": LAST, "email": EMAIL, "limit": 5},
    )
    assert listed.status_code == 200, listed.text

    # Not vacuous: the access log, the bounces and the retried refusal were all logged.
    records = [r for r in caplog.records if not r.name.startswith(OUTSIDE)]
    messages = [r.getMessage() for r in records]
    assert any("/v1/invitations/" in m and "/accept" in m for m in messages), "access log on"
    assert sum(m.startswith("e-mail bounced") for m in messages) == 2
    assert any("451" in record_text(r) for r in records), "the temporary refusal is logged"

    needles = [*PERSONAL, token]
    leaked: dict[str, set[str]] = {}
    for record in records:
        logged = record_text(record).lower()
        for needle in needles:
            if needle.lower() in logged:
                leaked.setdefault(needle, set()).add(record.name)
    assert leaked == {}, f"personal data or token in log records: {leaked}"

    # The reasons given instead: codes and our words, in the status and the e-mail log.
    assert leaks(json.dumps(statuses)) == set()
    assert "SMTP 550 5.1.1" in statuses[0]["invitation"]["last_error"]
    assert "SMTP 554 5.7.1" in statuses[1]["invitation"]["last_error"]
    rows = await email_log.list_for_onboarding(pool, onboarding_id=uuid.UUID(onboarding_id))
    errors = [r.last_error for r in rows if r.last_error]
    assert len(errors) == 2 and leaks(" ".join(errors)) == set()


async def test_unhandled_error_is_logged_by_type_and_reduced_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exception the API did not expect is logged with its type and where it happened, not
    with its message (a driver's message quotes values), and the path's token is masked."""
    app = FastAPI()
    problem_handlers.install(app)

    @app.get("/v1/invitations/{token}")
    async def boom(token: str) -> None:
        raise ValueError(f"duplicate key value (email)=({EMAIL}) for {token}")

    caplog.set_level(logging.DEBUG)
    async with serve_app(app) as http:
        response = await http.get("/v1/invitations/secret-token-value.sig", params={"q": LAST})
    assert response.status_code == 500
    assert EMAIL not in response.text
    [logged] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert logged.__dict__["error_type"] == "ValueError"
    assert logged.__dict__["path"] == "/v1/invitations/***"
    text = "\n".join(record_text(r) for r in caplog.records)
    assert "secret-token-value" not in text
    assert leaks(text) == set()
