"""InvitationActivities.send_invitation against real PostgreSQL and a real SMTP server."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import SendOutcome, SmtpConfig, message_id_for
from activities.invitations import InvitationActivities, InvitationPurpose
from core.settings import Settings
from devstack.ports import free_port
from devstack.smtp_sink import Received, SmtpSink
from domain.invitation import token_hash, verify_token
from store import clients, email_log, invitations
from store.pool import Pool
from tests.activity_helpers import (
    BASE_URL,
    CLIENT_NAME,
    COLOUR,
    DISPLAY_NAME,
    REPLY_TO,
    SECRET,
    THEMES,
    _activities,
    _case,
    _input,
    _text_and_html,
)

ACCEPT_LINK = re.compile(r"https://app\.example/v1/invitations/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")

# A phrase found in the plain-text invitation of one language only.
MARKERS = {
    "fr": "Cordialement",
    "nl": "Met vriendelijke groeten",
    "en": "Kind regards",
    "de": "Mit freundlichen Grüßen",
}
SUBJECTS = {
    "fr": f"{DISPLAY_NAME} vous invite à créer votre accès",
    "nl": f"{DISPLAY_NAME} nodigt u uit om uw toegang aan te maken",
    "en": f"{DISPLAY_NAME} invites you to set up your access",
    "de": f"{DISPLAY_NAME} lädt Sie ein, Ihren Zugang einzurichten",
}


@pytest.fixture
def activities(pool: Pool, settings: Settings) -> InvitationActivities:
    return _activities(pool, SmtpConfig.from_settings(settings))


def _accept_token(text: str) -> str:
    match = ACCEPT_LINK.search(text)
    assert match is not None, text
    return match.group(1)


def _message_id(message: EmailMessage) -> str:
    # The header is long enough to be folded onto its own line: legal CFWS, not part of the id.
    return str(message["Message-ID"]).strip()


async def _only_message(sink: SmtpSink) -> Received:
    [received] = await sink.handler.arrived(1)
    return received


async def test_invitation_headers_multipart_and_branded(
    activities: InvitationActivities, pool: Pool, smtp_sink: SmtpSink
) -> None:
    """The invitation is text then HTML, from the partner's name, replying to its reply_to."""
    case = await _case(pool)
    result = await ActivityEnvironment().run(activities.send_invitation, _input(case))
    assert result.outcome == SendOutcome.sent
    received = await _only_message(smtp_sink)
    message = received.message
    assert received.rcpt_tos == [case.director]
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    [sender] = message["From"].addresses
    assert sender.display_name == DISPLAY_NAME
    assert message["Reply-To"] == REPLY_TO
    assert message["To"] == case.director
    assert message["Subject"] == SUBJECTS["fr"]
    assert _message_id(message) == result.message_id


async def test_invitation_with_ids_only_reads_the_director_from_the_database(
    activities: InvitationActivities, pool: Pool, smtp_sink: SmtpSink
) -> None:
    """Newer runs pass ids, not people: the director and the client's name come from their
    rows, so a send's history entry names no one."""
    case = await _case(pool)
    await clients.add_director(
        pool,
        user_id=uuid.uuid4(),
        client_id=case.client_id,
        email=case.director,
        first_name="Marie",
        last_name="Martin",
        themes=[],
    )
    minimal = _input(case).model_copy(
        update={
            "recipient": None,
            "director_first_name": None,
            "director_last_name": None,
            "client_name": None,
        }
    )
    assert case.director not in minimal.model_dump_json()
    result = await ActivityEnvironment().run(activities.send_invitation, minimal)
    assert result.outcome == SendOutcome.sent
    received = await _only_message(smtp_sink)
    assert received.rcpt_tos == [case.director]
    body = received.message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "Marie Martin" in text and CLIENT_NAME in text


async def test_invitation_retry_same_message_id_sent_once(
    activities: InvitationActivities, pool: Pool, smtp_sink: SmtpSink
) -> None:
    """A retried send keeps the Message-ID, answers already_sent and mails nothing more."""
    case = await _case(pool)
    env = ActivityEnvironment()
    first = await env.run(activities.send_invitation, _input(case))
    second = await env.run(activities.send_invitation, _input(case))
    assert (first.outcome, second.outcome) == (SendOutcome.sent, SendOutcome.already_sent)
    assert first.message_id == second.message_id
    received = await _only_message(smtp_sink)
    assert _message_id(received.message) == first.message_id
    assert len(smtp_sink.handler.messages) == 1
    [row] = await email_log.list_for_onboarding(pool, onboarding_id=case.onboarding_id)
    assert (row.purpose, row.status, row.attempts) == ("invitation", "sent", 2)


@pytest.mark.parametrize("language", ["fr", "nl", "en", "de"])
async def test_invitation_template_language_branding_and_link(
    activities: InvitationActivities, pool: Pool, smtp_sink: SmtpSink, language: str
) -> None:
    """Each language's invitation is in that language, branded, with the themes and a valid link."""
    case = await _case(pool)
    result = await ActivityEnvironment().run(
        activities.send_invitation, _input(case, language=language, sequence=3)
    )
    assert result.outcome == SendOutcome.sent
    message = (await _only_message(smtp_sink)).message
    text, html = _text_and_html(message)
    assert message["Subject"] == SUBJECTS[language]
    assert MARKERS[language] in text
    assert [m for lang, m in MARKERS.items() if lang != language and m in text] == []
    assert f'<html lang="{language}">' in html
    assert COLOUR in html
    for theme in THEMES:
        assert f"- {theme}" in text
        assert f"<li>{theme}</li>" in html
    token = _accept_token(text)
    assert _accept_token(html) == token
    claims = verify_token(token, SECRET, now=datetime.now(UTC))
    assert (claims.onboarding_id, claims.sequence) == (case.onboarding_id, 3)
    assert claims.expires_at == case.expires_at
    stored = await invitations.find(pool, token_hash=token_hash(token))
    assert stored is not None
    assert (stored.onboarding_id, stored.sequence, stored.recipient) == (
        case.onboarding_id,
        3,
        case.director,
    )


async def test_reminder_to_director_same_accept_link(
    activities: InvitationActivities, pool: Pool, smtp_sink: SmtpSink
) -> None:
    """A reminder goes to the director with the invitation's own accept link, as a new message."""
    case = await _case(pool)
    env = ActivityEnvironment()
    invitation = await env.run(activities.send_invitation, _input(case))
    reminder = await env.run(
        activities.send_invitation, _input(case, InvitationPurpose.reminder, reminder=1)
    )
    assert (invitation.outcome, reminder.outcome) == (SendOutcome.sent, SendOutcome.sent)
    first, second = await smtp_sink.handler.arrived(2)
    assert second.rcpt_tos == [case.director]
    assert second.message["Subject"] == (
        f"Rappel : votre invitation de {DISPLAY_NAME} vous attend toujours"
    )
    assert _message_id(second.message) != _message_id(first.message)
    first_text, _ = _text_and_html(first.message)
    second_text, second_html = _text_and_html(second.message)
    token = _accept_token(first_text)
    assert _accept_token(second_text) == token
    assert _accept_token(second_html) == token
    rows = await email_log.list_for_onboarding(pool, onboarding_id=case.onboarding_id)
    assert sorted((r.purpose, r.status) for r in rows) == [
        ("invitation", "sent"),
        ("reminder", "sent"),
    ]


async def test_expired_notice_to_creator_while_client_muted(
    activities: InvitationActivities, pool: Pool, smtp_sink: SmtpSink
) -> None:
    """The expiry notice goes to the onboarding's creator, not the director, despite the mute."""
    case = await _case(pool, muted=True)
    env = ActivityEnvironment()
    # The mute is in force: the director's invitation itself is held back.
    held = await env.run(activities.send_invitation, _input(case))
    assert held.outcome == SendOutcome.suppressed
    result = await env.run(activities.send_invitation, _input(case, InvitationPurpose.expired))
    assert result.outcome == SendOutcome.sent
    received = await _only_message(smtp_sink)
    assert received.rcpt_tos == [case.tenant.admin.email]
    assert received.message["To"] == case.tenant.admin.email
    assert received.message["Subject"] == f"Invitation expirée : {CLIENT_NAME}"
    text, _ = _text_and_html(received.message)
    assert case.director in text
    assert f"{BASE_URL}/console/onboardings/{case.onboarding_id}" in text
    rows = await email_log.list_for_onboarding(pool, onboarding_id=case.onboarding_id)
    assert sorted((r.purpose, r.status, r.recipient) for r in rows) == [
        ("expired", "sent", case.tenant.admin.email),
        ("invitation", "suppressed", case.director),
    ]


async def test_smtp_down_then_back_delivers_invitation_once(pool: Pool, settings: Settings) -> None:
    """With SMTP down the send raises (retried); once it is back, one message, then already_sent."""
    port = free_port()
    smtp = dataclasses.replace(SmtpConfig.from_settings(settings), port=port)
    activities = _activities(pool, smtp)
    case = await _case(pool)
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError) as down:
        await env.run(activities.send_invitation, _input(case))
    # Retryable, in our words, not chained to aiosmtplib's exception (its text can quote data).
    assert down.value.type == "SmtpUnavailable" and not down.value.non_retryable
    [pending] = await email_log.list_for_onboarding(pool, onboarding_id=case.onboarding_id)
    assert pending.status == "pending"
    sink = SmtpSink(port=port, host=smtp.host)
    sink.start()
    try:
        retried = await env.run(activities.send_invitation, _input(case))
        again = await env.run(activities.send_invitation, _input(case))
        assert (retried.outcome, again.outcome) == (SendOutcome.sent, SendOutcome.already_sent)
        received = await _only_message(sink)
        assert len(sink.handler.messages) == 1
        assert received.rcpt_tos == [case.director]
        assert _message_id(received.message) == message_id_for(
            case.onboarding_id, "invitation", 100, smtp.mail_from
        )
    finally:
        sink.stop()
    [row] = await email_log.list_for_onboarding(pool, onboarding_id=case.onboarding_id)
    assert (row.status, row.attempts) == ("sent", 3)


async def test_invitation_recipient_550_bounced(
    activities: InvitationActivities, pool: Pool, smtp_sink: SmtpSink
) -> None:
    """A 550 for the director is final: bounced with the reply's code in our words (the server's
    text may quote the address), logged, not delivered."""
    case = await _case(pool)
    smtp_sink.handler.refused_recipients[case.director] = "550 5.1.1 No such user"
    env = ActivityEnvironment()
    result = await env.run(activities.send_invitation, _input(case))
    assert result.outcome == SendOutcome.bounced
    assert result.error is not None
    assert "550 5.1.1" in result.error and "refused the address" in result.error
    assert "No such user" not in result.error and case.director not in result.error
    [row] = await email_log.list_for_onboarding(pool, onboarding_id=case.onboarding_id)
    assert (row.status, row.last_error) == ("bounced", result.error)
    # A retry reads the log: still bounced, still nothing sent.
    again = await env.run(activities.send_invitation, _input(case))
    assert (again.outcome, again.error) == (SendOutcome.bounced, result.error)
    assert smtp_sink.handler.messages == []


async def test_invitation_muted_client_suppressed(
    activities: InvitationActivities, pool: Pool, smtp_sink: SmtpSink
) -> None:
    """While the client's notifications are muted the invitation is logged suppressed, not sent."""
    case = await _case(pool, muted=True)
    result = await ActivityEnvironment().run(activities.send_invitation, _input(case))
    assert result.outcome == SendOutcome.suppressed
    [row] = await email_log.list_for_onboarding(pool, onboarding_id=case.onboarding_id)
    assert (row.purpose, row.status, row.recipient) == ("invitation", "suppressed", case.director)
    assert smtp_sink.handler.messages == []
