"""A client made by the real create-client activity from a registry record, for the company
record, national numbers and documents tests."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.clients import ClientActivities, CreateClientInput
from domain.onboarding import ClientIn
from store import onboardings
from store.pool import Pool
from tests.factories import Tenant

DANONE_HEAD_OFFICE = "55203253400646"
# A valid national register number (mod 97), and the partner's.
NATIONAL_NUMBER = "85073003328"
PARTNER_NATIONAL_NUMBER = "86081514704"


def danone_as_registered(**changes: Any) -> dict[str, Any]:
    """What the registry said of DANONE's head office when the client was made, `changes`
    standing for what has changed at the registry since."""
    record = {
        "siret": DANONE_HEAD_OFFICE,
        "siren": DANONE_HEAD_OFFICE[:9],
        "enterprise_number": None,
        "name": "DANONE",
        "address": "17 BOULEVARD HAUSSMANN 75009 PARIS",
        "postal_code": "75009",
        "city": "PARIS",
        "activity_code": "70.10Z",
        "legal_form": "5599",
        "is_head_office": True,
        "active": True,
        "closed_on": None,
        "source": "recherche-entreprises",
        "extract_date": None,
        "vat_check": None,
    }
    record.update(changes)
    return record


async def created_client(
    pool: Pool,
    tenant: Tenant,
    *,
    company: dict[str, Any] | None,
    siret: str | None = DANONE_HEAD_OFFICE,
    national_number: str | None = NATIONAL_NUMBER,
    partner_national_number: str | None = PARTNER_NATIONAL_NUMBER,
    enterprise_number: str | None = None,
) -> uuid.UUID:
    """The client the onboarding's create-client activity makes from `company` (run twice, as
    a retry after a lost acknowledgement would)."""
    onboarding_id = uuid.uuid4()
    await onboardings.claim(
        pool,
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(onboarding_id),
        request_hash="h",
        workflow_id=f"onboarding-{onboarding_id}",
        status="SETTING_UP",
        created_by=tenant.admin.id,
    )
    payload = CreateClientInput(
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        client=ClientIn.model_validate(
            {
                "first_name": "Léa",
                "last_name": "Martin",
                "email": f"lea-{onboarding_id.hex[:6]}@example.com",
                "language": "fr",
                "national_number": national_number,
                "partner_national_number": partner_national_number,
            }
        ),
        company_name=company["name"] if company else None,
        siret=siret if company else None,
        company=company,
        enterprise_number=enterprise_number,
    )
    activities = ClientActivities(pool)
    env = ActivityEnvironment()
    first = await env.run(activities.create_client, payload)
    again = await env.run(activities.create_client, payload)
    assert first.client_id == again.client_id
    return first.client_id
