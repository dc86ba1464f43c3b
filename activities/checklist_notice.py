"""Telling an invited director that the firm assigned (or replaced) their checklist: rendered in
the client's language, sent once per (client's onboarding, assignment) through the e-mail log."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from temporalio import activity

from activities.email import SendOutcome
from activities.invitations import InvitationActivities
from domain.invitation import TokenClaims, sign_token
from store import checklists, clients

PURPOSE = "checklist_assigned"


class NoticeOutcome(StrEnum):
    sent = "sent"
    already_sent = "already_sent"
    suppressed = "suppressed"
    bounced = "bounced"
    # Nothing to send: replaced or withdrawn since, or the client is erased.
    not_current = "not_current"
    # Not invited yet: the invitation, when it goes, lists the checklist itself.
    not_invited = "not_invited"
    # The client's notifications are off: the workflow waits for them to be switched on.
    muted = "muted"


class ChecklistNoticeInput(BaseModel):
    partner_id: uuid.UUID
    client_id: uuid.UUID
    assignment: int


class ChecklistNoticeResult(BaseModel):
    outcome: NoticeOutcome
    attempt: int


class ChecklistNoticeActivities:
    def __init__(self, invitations: InvitationActivities) -> None:
        self.invitations = invitations

    @activity.defn
    async def notify_checklist(self, data: ChecklistNoticeInput) -> ChecklistNoticeResult:
        """Send the director the notice of this assignment, at most once; or say why not now.
        Ids only in the input: who the director is and what is asked are read here."""
        attempt = activity.info().attempt
        pool = self.invitations.pool
        facts = await checklists.notice_facts(
            pool, partner_id=data.partner_id, client_id=data.client_id, assignment=data.assignment
        )
        if not facts.current or facts.onboarding_id is None:
            return ChecklistNoticeResult(outcome=NoticeOutcome.not_current, attempt=attempt)
        if not facts.invited:
            return ChecklistNoticeResult(outcome=NoticeOutcome.not_invited, attempt=attempt)
        if facts.muted:
            # Checked before the e-mail log: deliver_once would record a muted client's notice
            # as suppressed for good, and this one is meant to wait.
            return ChecklistNoticeResult(outcome=NoticeOutcome.muted, attempt=attempt)
        director = next(
            (
                u
                for u in await clients.list_users(pool, client_id=data.client_id)
                if u["role"] == "director"
            ),
            None,
        )
        if director is None:
            return ChecklistNoticeResult(outcome=NoticeOutcome.not_current, attempt=attempt)
        branding = await self.invitations.branding(data.partner_id)
        checklist_url = None
        if facts.invitation is not None:
            sequence, expires_at = facts.invitation
            # The very token of the director's latest invitation (signing is deterministic): the
            # link opens the checklist page that invitation gives access to.
            token = sign_token(
                TokenClaims(
                    onboarding_id=facts.onboarding_id, sequence=sequence, expires_at=expires_at
                ),
                self.invitations.secret_key,
            )
            checklist_url = f"{self.invitations.public_base_url}/v1/invitations/{token}/checklist"
        context: dict[str, Any] = {
            "branding": branding,
            "director_name": f"{director['first_name']} {director['last_name']}".strip(),
            "client_name": facts.client_name,
            "checklist_name": facts.checklist_name,
            "checklist_items": facts.item_labels,
            "checklist_url": checklist_url,
        }
        email = self.invitations.email.renderer.render(PURPOSE, facts.language, context)
        result = await self.invitations.email.deliver_once(
            onboarding_id=facts.onboarding_id,
            purpose=PURPOSE,
            sequence=data.assignment,
            recipient=director["email"],
            email=email,
            client_id=data.client_id,
            reply_to=branding.reply_to,
            sender_name=branding.display_name,
        )
        outcome = {
            SendOutcome.sent: NoticeOutcome.sent,
            SendOutcome.already_sent: NoticeOutcome.already_sent,
            SendOutcome.suppressed: NoticeOutcome.suppressed,
            SendOutcome.bounced: NoticeOutcome.bounced,
        }[result.outcome]
        return ChecklistNoticeResult(outcome=outcome, attempt=attempt)
