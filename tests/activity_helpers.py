"""What the activities' tests share: invitation inputs and activities, an import of one's own."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from activities.email import EmailActivities, SmtpConfig
from activities.invitations import InvitationActivities, InvitationPurpose, SendInvitationInput
from email_templates import Renderer
from store import imports, partners
from store.pool import Pool
from tests.factories import Tenant, make_client, make_tenant


async def _import(pool: Pool, tenant: Tenant) -> uuid.UUID:
    import_id = uuid.uuid4()
    await imports.create(
        pool,
        import_id=import_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(import_id),
        request_hash="h",
        workflow_id=f"import-{import_id}",
        filename="clients.csv",
        created_by=tenant.admin.id,
        rows=[],
    )
    return import_id


SECRET = "invitation-test-secret"


BASE_URL = "https://app.example"


DISPLAY_NAME = "Cabinet Dupré & Associés"


REPLY_TO = "questions@dupre-associes.example.com"


COLOUR = "#0B6E4F"


CLIENT_NAME = "Boulangerie Martin"


THEMES = ["Comptabilité", "Fiscalité", "Paie"]


@dataclasses.dataclass(frozen=True)
class Case:
    tenant: Tenant
    onboarding_id: uuid.UUID
    client_id: uuid.UUID
    director: str
    expires_at: datetime


async def _case(pool: Pool, *, muted: bool = False) -> Case:
    """A branded partner, an onboarding started by its admin, and the onboarding's client."""
    tenant = await make_tenant(pool, name="Dupré Legal Name SRL")
    await partners.set_branding(
        pool,
        partner_id=tenant.partner.id,
        branding={"display_name": DISPLAY_NAME, "reply_to": REPLY_TO, "colour": COLOUR},
    )
    onboarding_id, client_id = await make_client(
        pool,
        tenant,
        muted=muted,
        name=CLIENT_NAME,
        email="contact@boulangerie-martin.example.com",
    )
    return Case(
        tenant=tenant,
        onboarding_id=onboarding_id,
        client_id=client_id,
        director=f"director-{uuid.uuid4().hex[:8]}@example.com",
        # Whole seconds: the token carries the expiry as a Unix timestamp.
        expires_at=(datetime.now(UTC) + timedelta(days=14)).replace(microsecond=0),
    )


def _input(
    case: Case,
    purpose: InvitationPurpose = InvitationPurpose.invitation,
    *,
    language: str = "fr",
    sequence: int = 1,
    reminder: int = 0,
) -> SendInvitationInput:
    return SendInvitationInput(
        onboarding_id=case.onboarding_id,
        partner_id=case.tenant.partner.id,
        client_id=case.client_id,
        purpose=purpose,
        sequence=sequence,
        reminder=reminder,
        expires_at=case.expires_at,
        recipient=case.director,
        director_first_name="Marie",
        director_last_name="Martin",
        themes=THEMES,
        language=language,
        client_name=CLIENT_NAME,
    )


def _activities(pool: Pool, smtp: SmtpConfig) -> InvitationActivities:
    return InvitationActivities(
        EmailActivities(pool, smtp, Renderer()), secret_key=SECRET, public_base_url=BASE_URL
    )


def _text_and_html(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())
