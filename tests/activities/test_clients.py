"""ClientActivities against real PostgreSQL: replays create nothing twice."""

from __future__ import annotations

import uuid

from temporalio.testing import ActivityEnvironment

from activities.clients import ClientActivities, CompleteSetupInput, CreateClientInput
from domain.onboarding import ClientIn, Language
from store import onboardings
from store.pool import Pool
from tests.factories import Tenant


async def test_create_client_twice_gives_one_row(pool: Pool, tenant: Tenant) -> None:
    """Running create_client again (a retry after a lost ack) returns the same client, one row."""
    onboarding_id = uuid.uuid4()
    await onboardings.claim(
        pool,
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(onboarding_id),
        request_hash="h",
        workflow_id=f"onboarding-{onboarding_id}",
        status="SETTING_UP",
    )
    data = CreateClientInput(
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        client=ClientIn(
            first_name="Claire",
            last_name="Lenoir",
            company_name="Café Lenoir",
            email="a@lenoir.fr",
            language=Language.fr,
        ),
    )
    acts = ClientActivities(pool)
    env = ActivityEnvironment()
    first = await env.run(acts.create_client, data)
    second = await env.run(acts.create_client, data)
    assert first.client_id == second.client_id
    assert (first.created, second.created) == (True, False)
    count = await pool.fetchval(
        "SELECT count(*) FROM clients WHERE onboarding_id = $1", onboarding_id
    )
    assert count == 1
    muted = await pool.fetchval(
        "SELECT notifications_muted FROM clients WHERE id = $1", first.client_id
    )
    assert muted is True

    done = await env.run(acts.complete_setup, CompleteSetupInput(client_id=first.client_id))
    assert done.notifications_muted is False
    assert (
        await pool.fetchval("SELECT status FROM onboardings WHERE id = $1", onboarding_id)
        == "SETTING_UP"
    )  # older runs record READY with record_status

    # Newer runs fold the status into the step that makes it true; a retry changes nothing.
    folded = CompleteSetupInput(
        client_id=first.client_id, onboarding_id=onboarding_id, status="READY"
    )
    for _ in range(2):
        await env.run(acts.complete_setup, folded)
    assert (
        await pool.fetchval("SELECT status FROM onboardings WHERE id = $1", onboarding_id)
        == "READY"
    )
