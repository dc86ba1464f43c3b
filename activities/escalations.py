"""Escalations: telling the partner user who started an onboarding that it waits for them.

Company details the registry could not give, still missing at the reminder point and then at the
deadline (just before the onboarding fails); failed integrations still not retried half-way
through their retry window, and when it closes. The e-mail goes to the onboarding's creator (a
partner user: never held back by the client's muted notifications) and names no client or person:
the onboarding's short reference, its SIRET and the integrations' names.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field
from temporalio import activity

from activities.email import SendEmailResult, SendOutcome
from activities.invitations import InvitationActivities
from domain.links import client_page_url
from store import onboardings


class EscalationKind(StrEnum):
    details_reminder = "details_reminder"
    details_deadline = "details_deadline"
    integration_reminder = "integration_reminder"
    integration_left_failed = "integration_left_failed"


# One e-mail log key per kind: a retried activity never sends one twice.
_SEQUENCE = {kind: number for number, kind in enumerate(EscalationKind, start=1)}


class EscalateInput(BaseModel):
    onboarding_id: uuid.UUID
    partner_id: uuid.UUID
    kind: EscalationKind
    language: str
    deadline: datetime
    siret: str | None = None
    integrations: list[str] = Field(default_factory=list)


class EscalationActivities:
    def __init__(self, invitations: InvitationActivities) -> None:
        self.invitations = invitations

    @activity.defn
    async def escalate(self, data: EscalateInput) -> SendEmailResult:
        email = self.invitations.email
        creator = await onboardings.creator_email(email.pool, onboarding_id=data.onboarding_id)
        if creator is None:
            # Started by an import or an API key without a user: nobody to tell by e-mail; the
            # status and the stuck list still say it.
            activity.logger.info("escalation without a creator", extra={"kind": data.kind.value})
            return SendEmailResult(
                outcome=SendOutcome.suppressed, message_id="", attempt=activity.info().attempt
            )
        branding = await self.invitations.branding(data.partner_id)
        context = {
            "branding": branding,
            "kind": data.kind.value,
            "reference": str(data.onboarding_id)[:8],
            "siret": data.siret,
            "deadline": data.deadline.date().isoformat(),
            "integrations": data.integrations,
            "client_url": client_page_url(self.invitations.public_base_url, data.onboarding_id),
        }
        rendered = email.renderer.render("escalation", data.language, context)
        return await email.deliver_once(
            onboarding_id=data.onboarding_id,
            purpose="escalation",
            sequence=_SEQUENCE[data.kind],
            recipient=creator,
            email=rendered,
            client_id=None,
            reply_to=branding.reply_to,
            sender_name=branding.display_name,
        )
