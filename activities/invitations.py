"""The director's invitation, its reminders, and the expiry notice: rendered, signed, sent once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.email import EmailActivities, SendEmailResult
from domain.email import Branding, Email
from domain.error_types import ErrorType
from domain.invitation import TokenClaims, sign_token, token_hash
from domain.links import client_page_url
from store import checklists, clients, email_log, invitations, onboardings, partners
from store.pool import Pool


class InvitationPurpose(StrEnum):
    invitation = "invitation"
    reminder = "reminder"
    expired = "expired"


class SendInvitationInput(BaseModel):
    onboarding_id: uuid.UUID
    partner_id: uuid.UUID
    client_id: uuid.UUID
    purpose: InvitationPurpose
    sequence: int = Field(description="Which invitation: 1, then +1 per resend")
    reminder: int = Field(default=0, description="For reminders: 1, 2, ...")
    expires_at: datetime
    # Runs started before data minimisation send who the director is and the client's name;
    # newer runs leave them out and the activity reads them from PostgreSQL by client_id, so the
    # history of a send holds ids, not people.
    recipient: str | None = None
    director_first_name: str | None = None
    director_last_name: str | None = None
    themes: list[str] = Field(default_factory=list)
    language: str
    client_name: str | None = None


@dataclass(frozen=True)
class _People:
    director_email: str
    director_name: str
    client_name: str


class InvitationActivities:
    def __init__(self, email: EmailActivities, *, secret_key: str, public_base_url: str) -> None:
        self.email = email
        self.pool: Pool = email.pool
        self.secret_key = secret_key
        self.public_base_url = public_base_url.rstrip("/")

    async def branding(self, partner_id: uuid.UUID) -> Branding:
        partner = await partners.get(self.pool, partner_id=partner_id)
        settings: dict[str, Any] = dict(partner.settings) if partner else {}
        stored = settings.get("branding") or {}
        known = {k: v for k, v in stored.items() if k in Branding.model_fields}
        return Branding.model_validate({"display_name": partner.name if partner else "", **known})

    async def _people(self, data: SendInvitationInput) -> _People:
        """The director and the client's name: from the input for older runs, else from the
        client's rows (written by create_client before any invitation can be sent)."""
        client = await clients.get(self.pool, client_id=data.client_id)
        if client is None:
            raise ApplicationError(
                "the client row is missing", type=ErrorType.ClientMissing, non_retryable=True
            )
        director = next(
            (
                u
                for u in await clients.list_users(self.pool, client_id=data.client_id)
                if u["role"] == "director"
            ),
            None,
        )
        email = data.recipient or (director["email"] if director else None)
        if email is None:
            raise ApplicationError(
                "the client has no director to invite",
                type=ErrorType.ClientMissing,
                non_retryable=True,
            )
        first = data.director_first_name or (director["first_name"] if director else "")
        last = data.director_last_name or (director["last_name"] if director else "")
        return _People(
            director_email=email,
            director_name=f"{first} {last}".strip(),
            client_name=data.client_name or client.name,
        )

    @activity.defn
    async def send_invitation(self, data: SendInvitationInput) -> SendEmailResult:
        """Send the invitation, a reminder, or the expiry notice, at most once each."""
        branding = await self.branding(data.partner_id)
        people = await self._people(data)
        context: dict[str, Any] = {
            "branding": branding,
            "director_name": people.director_name,
            "director_email": people.director_email,
            "client_name": people.client_name,
            "themes": data.themes,
            "expires_on": data.expires_at.date().isoformat(),
            # Where the partner's staff follow this onboarding and can resend the invitation.
            "client_url": client_page_url(self.public_base_url, data.onboarding_id),
        }
        recipient: str = people.director_email
        client_id: uuid.UUID | None = data.client_id
        if data.purpose == InvitationPurpose.expired:
            # To the person who started the onboarding: a partner user, not the client, so it is
            # not held back by the client's muted notifications.
            creator = await onboardings.creator_email(self.pool, onboarding_id=data.onboarding_id)
            if creator is None:
                raise LookupError("the onboarding has no creator to notify")
            recipient, client_id = creator, None
        else:
            # Deterministic: a retry re-creates the very token already mailed, if it was.
            token = sign_token(
                TokenClaims(
                    onboarding_id=data.onboarding_id,
                    sequence=data.sequence,
                    expires_at=data.expires_at,
                ),
                self.secret_key,
            )
            context["accept_url"] = f"{self.public_base_url}/v1/invitations/{token}"
            # What the director will be asked for: the client's own copy, assigned when its
            # setup completed (before any invitation), so the e-mail and the page agree.
            context["checklist_items"] = await checklists.item_labels(
                self.pool, client_id=data.client_id
            )
            await invitations.record(
                self.pool,
                onboarding_id=data.onboarding_id,
                sequence=data.sequence,
                token_hash=token_hash(token),
                recipient=people.director_email,
                expires_at=data.expires_at,
            )
        email = self.email.renderer.render(data.purpose.value, data.language, context)
        return await self.email.deliver_once(
            onboarding_id=data.onboarding_id,
            purpose=data.purpose.value,
            # One log key per invitation and per reminder of it.
            sequence=data.sequence * 100 + data.reminder,
            recipient=recipient,
            email=email,
            client_id=client_id,
            reply_to=branding.reply_to,
            sender_name=branding.display_name,
        )


class NotifyCollaboratorsInput(BaseModel):
    onboarding_id: uuid.UUID
    partner_id: uuid.UUID
    user_ids: list[uuid.UUID]
    client_name: str
    language: str
    folder_count: int
    integrations_connected: list[str] = Field(default_factory=list)
    integrations_failed: list[str] = Field(default_factory=list)


class NotifyCollaboratorsResult(BaseModel):
    notified: int
    attempt: int


# Keys of the collaborators' notice in the e-mail log: one per user, so whoever notices them
# (the onboarding, or a later change of the client's collaborators) sends each user one e-mail.
# Earlier versions numbered them by position in the list (1, 2, ...): keys derived from the user
# id start above any such position, so the two never collide.
_USER_SEQUENCE_FLOOR = 1_000_000
_SEQUENCE_MAX = 2**31 - 1  # email_log.sequence is a PostgreSQL integer


def collaborator_sequence(user_id: uuid.UUID) -> int:
    """The user's e-mail-log sequence for the `client_ready` notice: stable across retries and
    versions (the UUID's own bits, no hash seed)."""
    return _USER_SEQUENCE_FLOOR + user_id.int % (_SEQUENCE_MAX - _USER_SEQUENCE_FLOOR)


class CollaboratorActivities:
    """Telling the firm's collaborators that a client is set up (partner staff: never muted)."""

    def __init__(self, invitations: InvitationActivities) -> None:
        self.invitations = invitations

    @activity.defn
    async def notify_collaborators(
        self, data: NotifyCollaboratorsInput
    ) -> NotifyCollaboratorsResult:
        """Each collaborator gets `client_ready` once, in their own language (the input's
        language is the client's: older runs send it, it no longer picks the e-mail's)."""
        email_activities = self.invitations.email
        pool = self.invitations.pool
        branding = await self.invitations.branding(data.partner_id)
        context: dict[str, Any] = {
            "branding": branding,
            "client_name": data.client_name,
            "folder_count": data.folder_count,
            "integrations_connected": data.integrations_connected,
            "integrations_failed": data.integrations_failed,
            "client_url": client_page_url(self.invitations.public_base_url, data.onboarding_id),
        }
        users = await partners.user_addresses(
            pool, partner_id=data.partner_id, user_ids=data.user_ids
        )
        # A run retried across the upgrade logged its first sends under positional keys: who
        # those reached is told already.
        told_before = {
            row.recipient: row.status
            for row in await email_log.list_for_onboarding(pool, onboarding_id=data.onboarding_id)
            if row.purpose == "client_ready"
            and row.sequence < _USER_SEQUENCE_FLOOR
            and row.status in ("sent", "bounced")
        }
        rendered: dict[str, Email] = {}
        notified = 0
        for user_id, address, language in users:
            if address in told_before:
                notified += told_before[address] == "sent"
                continue
            if language not in rendered:
                rendered[language] = email_activities.renderer.render(
                    "client_ready", language, context
                )
            result = await email_activities.deliver_once(
                onboarding_id=data.onboarding_id,
                purpose="client_ready",
                sequence=collaborator_sequence(user_id),
                recipient=address,
                email=rendered[language],
                client_id=None,
                reply_to=branding.reply_to,
                sender_name=branding.display_name,
            )
            notified += result.outcome.value in ("sent", "already_sent")
        return NotifyCollaboratorsResult(notified=notified, attempt=activity.info().attempt)
