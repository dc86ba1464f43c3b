"""EscalationActivities.escalate against real PostgreSQL and a real SMTP server: the creator of
the onboarding gets it once, in the client's language, naming no client or person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities, SendOutcome, SmtpConfig
from activities.escalations import EscalateInput, EscalationActivities, EscalationKind
from activities.invitations import InvitationActivities
from core.settings import Settings
from devstack.smtp_sink import SmtpSink
from email_templates import Renderer
from store.pool import Pool
from tests.factories import make_client, make_tenant

CLIENT_NAME = "Menuiserie Vasseur"


async def test_the_creator_is_told_once_without_the_clients_name(
    pool: Pool, settings: Settings, smtp_sink: SmtpSink
) -> None:
    tenant = await make_tenant(pool, name="Cabinet Escalade")
    onboarding_id, _ = await make_client(pool, tenant, name=CLIENT_NAME, email="m@vasseur.example")
    activities = EscalationActivities(
        InvitationActivities(
            EmailActivities(pool, SmtpConfig.from_settings(settings), Renderer()),
            secret_key="s",
            public_base_url="https://app.example",
        )
    )
    data = EscalateInput(
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        kind=EscalationKind.details_reminder,
        language="fr",
        deadline=datetime.now(UTC) + timedelta(days=3),
        siret="73282932000074",
    )
    first = await ActivityEnvironment().run(activities.escalate, data)
    again = await ActivityEnvironment().run(activities.escalate, data)  # a retried activity
    assert (first.outcome, again.outcome) == (SendOutcome.sent, SendOutcome.already_sent)
    [mail] = await smtp_sink.handler.arrived(1)
    assert mail.rcpt_tos == [tenant.admin.email]
    message = mail.message
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    content = text.get_content()
    assert str(onboarding_id)[:8] in str(message["Subject"])
    assert "attend les informations de l'entreprise" in content
    assert "73282932000074" in content and f"/console/onboardings/{onboarding_id}" in content
    assert CLIENT_NAME not in content and "vasseur" not in content.lower()
    # Another kind is another e-mail.
    deadline = await ActivityEnvironment().run(
        activities.escalate, data.model_copy(update={"kind": EscalationKind.details_deadline})
    )
    assert deadline.outcome == SendOutcome.sent
    assert len(await smtp_sink.handler.arrived(2)) == 2
