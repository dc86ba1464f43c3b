"""POST /v1/invitations/{token}/accept with a valid, a reused, an expired and a forged token,
end to end: the token comes from the real e-mail in the SMTP server."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.worker import Worker

from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from domain.invitation import TokenClaims, sign_token
from store.pool import Pool
from tests.api_helpers import _invited
from tests.e2e.helpers import wait_status
from tests.factories import Tenant


async def test_accept_valid_then_reused_token(
    api: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, pool: Pool, tenant: Tenant
) -> None:
    """A valid token completes the onboarding; the same token again is a 409 and changes nothing."""
    onboarding_id, path = await _invited(api, smtp_sink)
    api.headers.pop("Authorization")  # the token is the director's only credential
    opened = await api.get(path)
    assert opened.status_code == 200 and opened.json()["status"] == "open"

    accepted = await api.post(f"{path}/accept")
    assert accepted.status_code == 200, accepted.text
    api.headers.update(tenant.auth)
    body = await wait_status(api, onboarding_id, "COMPLETED")
    assert body["invitation"]["state"] == "accepted"

    api.headers.pop("Authorization")
    again = await api.post(f"{path}/accept")
    assert again.status_code == 409
    assert again.json()["type"].endswith("/invitation-used")
    used = await pool.fetchval(
        "SELECT count(*) FROM invitations WHERE onboarding_id = $1 AND accepted_at IS NOT NULL",
        uuid.UUID(onboarding_id),
    )
    assert used == 1


async def test_forged_and_expired_tokens_are_refused(
    api: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, settings: Settings, pool: Pool
) -> None:
    """A tampered token is 404, an expired one 410; neither touches the invitation."""
    onboarding_id, path = await _invited(api, smtp_sink)
    token = path.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    forged = f"{payload}.{signature[::-1]}"
    api_no_key = {"Authorization": ""}  # the token is the credential; no API key is needed
    refused = await api.post(f"/v1/invitations/{forged}/accept", headers=api_no_key)
    assert refused.status_code == 404
    garbage = await api.post("/v1/invitations/not-a-token/accept", headers=api_no_key)
    assert garbage.status_code == 404

    expired = sign_token(
        TokenClaims(
            onboarding_id=uuid.UUID(onboarding_id),
            sequence=1,
            expires_at=datetime.now(UTC) - timedelta(minutes=1),
        ),
        settings.secret_key.get_secret_value(),
    )
    late = await api.post(f"/v1/invitations/{expired}/accept", headers=api_no_key)
    assert late.status_code == 410
    assert late.json()["type"].endswith("/invitation-expired")

    untouched = await pool.fetchval(
        "SELECT accepted_at FROM invitations WHERE onboarding_id = $1", uuid.UUID(onboarding_id)
    )
    assert untouched is None
    view = (await api.get(f"/v1/onboardings/{onboarding_id}")).json()
    assert view["invitation"]["state"] == "sent"


def _crafted_token() -> str:
    """The probe's token: a well-formed payload whose expiry (10**20) no datetime holds, with a
    signature of nothing; anyone can make one, no key needed."""
    payload = f"{uuid.uuid4().hex}:1:{10**20}".encode()
    return ".".join(base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in (payload, b"x" * 32))


_HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("method", "suffix", "kwargs", "html"),
    [
        ("GET", "", {}, False),
        ("GET", "", {"headers": _HTML}, True),
        ("POST", "/accept", {}, False),
        ("POST", "/accept", {"data": {"form_token": "x"}, "headers": _HTML}, True),
        ("GET", "/checklist", {}, False),
        ("GET", "/checklist", {"headers": _HTML}, True),
        ("PUT", "/checklist", {"json": {"answers": {}}}, False),
        ("POST", "/checklist", {"data": {"form_token": "x"}, "headers": _HTML}, True),
    ],
    ids=[
        "read",
        "read-page",
        "accept",
        "accept-form",
        "checklist",
        "checklist-page",
        "answer-checklist",
        "answer-checklist-form",
    ],
)
async def test_crafted_token_is_an_unknown_invitation_on_every_route(
    api_server: httpx.AsyncClient, method: str, suffix: str, kwargs: dict[str, Any], html: bool
) -> None:
    """A token with an out-of-range expiry is "unknown invitation" (404), as a page for a
    browser and as problem JSON for an API caller, never a 500."""
    answer = await api_server.request(
        method, f"/v1/invitations/{_crafted_token()}{suffix}", **kwargs
    )
    assert answer.status_code == 404, answer.text
    if html:
        assert answer.headers["content-type"].startswith("text/html")
    else:
        assert answer.json()["type"].endswith("/invitation-not-found")
