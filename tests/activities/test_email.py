"""EmailActivities.deliver_once, the one sending path of every e-mail activity (invitations,
client_ready, escalations), against real PostgreSQL and a real SMTP server."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities, SendEmailResult, SendOutcome, SmtpConfig
from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from email_templates import SAMPLE_CONTEXT, Renderer
from store import email_log
from store.pool import Pool
from tests.factories import make_client, make_tenant


async def _onboarding(pool: Pool, *, muted: bool) -> tuple[uuid.UUID, uuid.UUID]:
    return await make_client(pool, await make_tenant(pool), language="en", muted=muted)


async def _send(
    env: ActivityEnvironment,
    activities: EmailActivities,
    onboarding_id: uuid.UUID,
    client_id: uuid.UUID,
) -> SendEmailResult:
    email = activities.renderer.render(
        "client_ready", "en", SAMPLE_CONTEXT["client_ready"] | {"client_name": "Client <b>"}
    )
    return await env.run(
        activities.deliver_once,
        onboarding_id=onboarding_id,
        purpose="client_ready",
        sequence=1,
        recipient="client@example.com",
        email=email,
        client_id=client_id,
    )


@pytest.fixture
def activities(pool: Pool, settings: Settings) -> EmailActivities:
    return EmailActivities(pool, SmtpConfig.from_settings(settings), Renderer())


async def test_send_twice_delivers_once(
    activities: EmailActivities, pool: Pool, smtp_sink: SmtpSink
) -> None:
    """A replayed activity finds the log row 'sent' and does not send the e-mail again."""
    onboarding_id, client_id = await _onboarding(pool, muted=False)
    env = ActivityEnvironment()
    first = await _send(env, activities, onboarding_id, client_id)
    second = await _send(env, activities, onboarding_id, client_id)
    assert (first.outcome, second.outcome) == (SendOutcome.sent, SendOutcome.already_sent)
    assert first.message_id == second.message_id
    assert len(smtp_sink.handler.messages) == 1
    [row] = await email_log.list_for_onboarding(pool, onboarding_id=onboarding_id)
    assert (row.status, row.attempts) == ("sent", 2)


async def test_muted_client_email_is_suppressed_not_sent(
    activities: EmailActivities, pool: Pool, smtp_sink: SmtpSink
) -> None:
    """While notifications are muted the e-mail is logged as suppressed and never reaches SMTP."""
    onboarding_id, client_id = await _onboarding(pool, muted=True)
    result = await _send(ActivityEnvironment(), activities, onboarding_id, client_id)
    assert result.outcome == SendOutcome.suppressed
    assert smtp_sink.handler.messages == []
    [row] = await email_log.list_for_onboarding(pool, onboarding_id=onboarding_id)
    assert row.status == "suppressed"


async def test_temporary_refusal_raises_for_retry_then_sends(
    activities: EmailActivities, pool: Pool, smtp_sink: SmtpSink
) -> None:
    """A 451 makes the activity fail (Temporal retries it); the next attempt delivers once."""
    onboarding_id, client_id = await _onboarding(pool, muted=False)
    smtp_sink.handler.scripted_replies.append("451 4.3.0 Try again later")
    env = ActivityEnvironment()
    with pytest.raises(Exception, match="451"):
        await _send(env, activities, onboarding_id, client_id)
    result = await _send(env, activities, onboarding_id, client_id)
    assert result.outcome == SendOutcome.sent
    assert len(smtp_sink.handler.messages) == 1


async def test_permanent_refusal_marks_bounced(
    activities: EmailActivities, pool: Pool, smtp_sink: SmtpSink
) -> None:
    """A 550 for the recipient is final: outcome bounced, recorded with the server's reply."""
    onboarding_id, client_id = await _onboarding(pool, muted=False)
    smtp_sink.handler.refused_recipients["client@example.com"] = "550 5.1.1 No such user"
    result = await _send(ActivityEnvironment(), activities, onboarding_id, client_id)
    assert result.outcome == SendOutcome.bounced
    assert result.error is not None and "550" in result.error
    [row] = await email_log.list_for_onboarding(pool, onboarding_id=onboarding_id)
    assert row.status == "bounced"
    assert smtp_sink.handler.messages == []
