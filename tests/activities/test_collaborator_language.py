"""CollaboratorActivities.notify_collaborators: each collaborator's own language, one e-mail each,
against real PostgreSQL and a real SMTP server."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities, SmtpConfig
from activities.invitations import (
    CollaboratorActivities,
    InvitationActivities,
    NotifyCollaboratorsInput,
    collaborator_sequence,
)
from core.settings import SmtpSecurity
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from email_templates import Renderer
from store import email_log, partners
from store.pool import Pool
from tests.factories import Tenant, make_client, make_tenant

CLIENT_NAME = "Boulangerie Martin"
# The subject of `client_ready` in each language.
SUBJECTS = {
    "fr": f"Client prêt : {CLIENT_NAME}",
    "nl": f"Klant klaar: {CLIENT_NAME}",
    "de": f"Mandant bereit: {CLIENT_NAME}",
}


@pytest.fixture
def collaborators(pool: Pool, smtp_sink: SmtpSink) -> CollaboratorActivities:
    smtp = SmtpConfig(
        host=smtp_sink.host,
        port=smtp_sink.port,
        security=SmtpSecurity.none,
        username=None,
        password=None,
        timeout=5,
        mail_from="Onboarding <no-reply@onboarding.localhost>",
    )
    email = EmailActivities(pool, smtp, Renderer())
    return CollaboratorActivities(
        InvitationActivities(email, secret_key="s", public_base_url="https://app.example")
    )


async def _user(pool: Pool, tenant: Tenant, language: str) -> partners.UserRow:
    user = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email=f"{language}-{uuid.uuid4().hex[:8]}@firm.example.com",
        name=language,
        role=Role.accountant,
        language=language,
    )
    assert user is not None
    return user


def _input(
    tenant: Tenant, onboarding_id: uuid.UUID, users: list[partners.UserRow]
) -> NotifyCollaboratorsInput:
    # The client's language is French: no collaborator below reads French.
    return NotifyCollaboratorsInput(
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        user_ids=[u.id for u in users],
        client_name=CLIENT_NAME,
        language="fr",
        folder_count=12,
    )


async def _subjects_by_recipient(sink: SmtpSink, count: int) -> dict[str, str]:
    received = await sink.handler.arrived(count, within=5)
    # The activity has returned, and the sink keeps a message before it answers the DATA
    # command: every e-mail it sent is here, so a second one to anyone would show now.
    assert len(sink.handler.messages) == count
    return {r.rcpt_tos[0]: str(r.message["Subject"]) for r in received}


async def test_each_collaborator_gets_their_language_and_a_retry_sends_nothing_twice(
    pool: Pool, smtp_sink: SmtpSink, collaborators: CollaboratorActivities
) -> None:
    """A Dutch and a German collaborator of a French client get client_ready in Dutch and in
    German, logged under their own keys; the same activity run again sends nothing."""
    tenant = await make_tenant(pool)
    onboarding_id, _ = await make_client(pool, tenant, language="fr", name=CLIENT_NAME)
    nl, de = await _user(pool, tenant, "nl"), await _user(pool, tenant, "de")
    env = ActivityEnvironment()
    first = await env.run(
        collaborators.notify_collaborators, _input(tenant, onboarding_id, [nl, de])
    )
    assert first.notified == 2
    assert await _subjects_by_recipient(smtp_sink, 2) == {
        nl.email: SUBJECTS["nl"],
        de.email: SUBJECTS["de"],
    }
    again = await env.run(
        collaborators.notify_collaborators, _input(tenant, onboarding_id, [de, nl])
    )
    assert again.notified == 2
    assert len(smtp_sink.handler.messages) == 2
    rows = await email_log.list_for_onboarding(pool, onboarding_id=onboarding_id)
    assert {(r.sequence, r.recipient, r.status) for r in rows} == {
        (collaborator_sequence(nl.id), nl.email, "sent"),
        (collaborator_sequence(de.id), de.email, "sent"),
    }


async def test_a_user_added_later_is_told_and_those_told_are_not(
    pool: Pool, smtp_sink: SmtpSink, collaborators: CollaboratorActivities
) -> None:
    """Keys are per user, not per position: telling the user whose id sorts last, then both,
    sends one e-mail each (positional keys would take the first-sorted user for "number 1",
    already sent, and never tell them)."""
    tenant = await make_tenant(pool)
    onboarding_id, _ = await make_client(pool, tenant, name=CLIENT_NAME)
    first, last = sorted(
        [await _user(pool, tenant, "nl"), await _user(pool, tenant, "de")], key=lambda u: u.id
    )
    env = ActivityEnvironment()
    await env.run(collaborators.notify_collaborators, _input(tenant, onboarding_id, [last]))
    await env.run(collaborators.notify_collaborators, _input(tenant, onboarding_id, [first, last]))
    assert await _subjects_by_recipient(smtp_sink, 2) == {
        first.email: SUBJECTS[first.language],
        last.email: SUBJECTS[last.language],
    }


async def test_a_run_retried_across_the_upgrade_skips_those_told_under_positional_keys(
    pool: Pool, smtp_sink: SmtpSink, collaborators: CollaboratorActivities
) -> None:
    """An older attempt logged its send to the first user as sequence 1: the retry tells only
    the other one."""
    tenant = await make_tenant(pool)
    onboarding_id, _ = await make_client(pool, tenant, name=CLIENT_NAME)
    nl, de = await _user(pool, tenant, "nl"), await _user(pool, tenant, "de")
    await email_log.reserve(
        pool,
        onboarding_id=onboarding_id,
        purpose="client_ready",
        sequence=1,
        recipient=nl.email,
        subject=SUBJECTS["fr"],
        message_id=f"<client_ready.1.{onboarding_id}@onboarding.localhost>",
    )
    await email_log.mark(
        pool, onboarding_id=onboarding_id, purpose="client_ready", sequence=1, status="sent"
    )
    result = await ActivityEnvironment().run(
        collaborators.notify_collaborators, _input(tenant, onboarding_id, [nl, de])
    )
    assert result.notified == 2
    assert await _subjects_by_recipient(smtp_sink, 1) == {de.email: SUBJECTS["de"]}


def test_sequence_is_stable_and_above_any_position() -> None:
    """Derived from the id alone (same value every time), never a small positional number,
    always a PostgreSQL integer."""
    ids = [uuid.uuid4() for _ in range(200)] + [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    for user_id in ids:
        sequence = collaborator_sequence(user_id)
        assert sequence == collaborator_sequence(uuid.UUID(str(user_id)))
        assert 1_000_000 <= sequence <= 2**31 - 1
    assert len({collaborator_sequence(u) for u in ids}) == len(ids)
