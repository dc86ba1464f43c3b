"""What the API's tests share beyond tests/factories.py: teams, registry outages, invitations."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass

import httpx

from activities.registry import RegistryConfig
from devstack.registry_standin import RegistryStandin
from devstack.smtp_sink import SmtpSink
from domain.setup import Role
from store import clients, limits, partners
from store.pool import Pool
from tests.factories import Tenant, make_client


@dataclass(frozen=True)
class Team:
    """Three clients of one firm: the admin's alone, shared with a colleague, and nobody's."""

    colleague: uuid.UUID
    admins: uuid.UUID
    shared: uuid.UUID
    nobodys: uuid.UUID


async def make_team(pool: Pool, tenant: Tenant) -> Team:
    colleague = await partners.create_user(
        pool,
        partner_id=tenant.partner.id,
        email=f"colleague-{uuid.uuid4().hex[:8]}@example.com",
        name="Colin",
        role=Role.accountant,
    )
    assert colleague is not None
    _, admins = await make_client(pool, tenant, name="Abeille Conseil")
    _, shared = await make_client(pool, tenant, name="Boulangerie Partagée")
    _, nobodys = await make_client(pool, tenant, name="Cordonnerie Seule")
    for client_id, users in (
        (admins, [tenant.admin.id]),
        (shared, [tenant.admin.id, colleague.id]),
    ):
        changed = await clients.set_collaborators(
            pool, partner_id=tenant.partner.id, client_id=client_id, user_ids=users
        )
        assert changed is not None
    return Team(colleague=colleague.id, admins=admins, shared=shared, nobodys=nobodys)


async def hold_every_place(pool: Pool, registry: RegistryStandin) -> list[int]:
    """Every place of the registry's fleet window taken (as busy workers would): their ids."""
    config = RegistryConfig(base_url=registry.url, rate_limit=7.0)
    held: list[int] = []
    while len(held) < 7:  # earlier tests' requests may still be in the window: wait them out
        place = await limits.enter_window(
            pool,
            key=config.fleet_key,
            max_in_window=7,
            window=1.0,
            interval=1 / 7,
            tolerance=4.0,
        )
        if place.granted and place.place_id is not None:
            held.append(place.place_id)
        else:
            await asyncio.sleep(place.retry_in)
    return held


ACCEPT = re.compile(r"(/v1/invitations/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")


async def _invited(api: httpx.AsyncClient, smtp_sink: SmtpSink) -> tuple[str, str]:
    response = await api.post(
        "/v1/onboardings",
        json={
            "client": {
                "first_name": "Léa",
                "last_name": "Moreau",
                "email": "lea@moreau.example",
                "language": "fr",
                "company_name": "Moreau & Fils",
            },
            "director": {
                "email": "lea@moreau.example",
                "first_name": "Léa",
                "last_name": "Moreau",
                "themes": ["Comptabilité", "Social"],
            },
        },
        headers={"Idempotency-Key": f"inv-{uuid.uuid4()}"},
    )
    assert response.status_code == 202, response.text
    onboarding_id = response.json()["id"]
    [received] = await smtp_sink.handler.arrived(1)
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    content = text.get_content()
    assert "Comptabilité" in content  # the director's themes
    match = ACCEPT.search(content)
    assert match, content
    return onboarding_id, match.group(1)
