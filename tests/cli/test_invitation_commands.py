"""Ops' invitation commands (`onboarding reschedule-invitation`, `send-invitation`...) run the
application functions the API and the console run: the same checks, the same refusals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.worker import Worker

from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from tests.cli_helpers import ops_env, run_onboarding
from tests.console_helpers import BODY, _until_invitation
from tests.factories import Tenant


def _scheduled(at: datetime) -> dict[str, Any]:
    return {**BODY, "invitation": {"mode": "scheduled", "scheduled_at": at.isoformat()}}


async def test_reschedule_past_the_horizon_is_refused_as_the_api_refuses_it(
    api_server: httpx.AsyncClient,
    worker: Worker,
    smtp_sink: SmtpSink,
    tenant: Tenant,
    settings: Settings,
) -> None:
    """Too far ahead or in the past: exit 1 naming scheduled_at, the invitation unchanged; a
    time within the horizon: moved, as the workflow says."""
    first = datetime.now(UTC) + timedelta(days=2)
    started = await api_server.post(
        "/v1/onboardings",
        json=_scheduled(first),
        headers={"Idempotency-Key": f"cli-{uuid.uuid4()}", **tenant.auth},
    )
    assert started.status_code == 202, started.text
    onboarding_id = started.json()["id"]
    await _until_invitation(api_server, tenant, onboarding_id, "scheduled")
    env = ops_env(settings)

    too_far = datetime.now(UTC) + timedelta(days=settings.invitation_horizon_days + 1)
    for when in (too_far, datetime.now(UTC) - timedelta(hours=1)):
        refused = await run_onboarding(
            env, "reschedule-invitation", onboarding_id, when.isoformat()
        )
        assert refused.code == 1, refused.out
        assert "scheduled_at" in refused.out, refused.out
    view = (await api_server.get(f"/v1/onboardings/{onboarding_id}", headers=tenant.auth)).json()
    assert datetime.fromisoformat(view["invitation"]["scheduled_at"]) == first

    later = first + timedelta(days=1)
    moved = await run_onboarding(env, "reschedule-invitation", onboarding_id, later.isoformat())
    assert moved.code == 0, moved.out + moved.err
    view = (await api_server.get(f"/v1/onboardings/{onboarding_id}", headers=tenant.auth)).json()
    assert datetime.fromisoformat(view["invitation"]["scheduled_at"]) == later


async def test_an_unknown_onboarding_is_refused_without_a_traceback(settings: Settings) -> None:
    """No such onboarding: exit 1 saying so, whichever command."""
    env = ops_env(settings)
    for command in ("send-invitation", "cancel-invitation", "resend-invitation"):
        ran = await run_onboarding(env, command, str(uuid.uuid4()))
        assert ran.code == 1, ran.out + ran.err
        assert "No onboarding" in ran.out
        assert "Traceback" not in ran.err
