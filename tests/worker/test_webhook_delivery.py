"""The worker's webhook delivery loop (worker/webhooks.py) under load: a slow endpoint holds up
only its own deliveries."""

from __future__ import annotations

import httpx

from core.settings import Settings
from domain.onboarding import OnboardingStatus
from store import onboardings
from store import webhooks as store
from store.pool import Pool
from tests.factories import Tenant, make_client
from tests.webhook_receiver import receiving
from worker.webhooks import delivering


async def test_slow_endpoint_holds_up_no_other_endpoint(
    pool: Pool, tenant: Tenant, settings: Settings, endpoints_made: list[store.EndpointRow]
) -> None:
    """While one endpoint holds its request open, another endpoint claimed in the same batch
    still receives the events that follow (the loop refills a slot at once, not per batch)."""
    statuses = [
        OnboardingStatus.AWAITING_COMPANY_DETAILS,
        OnboardingStatus.READY,
        OnboardingStatus.COMPLETED,
    ]
    async with receiving() as receiver:
        port = receiver.base_url.rsplit(":", 1)[1]
        hook_settings = settings.model_copy(
            update={
                "outbound_allow_private_hosts": [f"127.0.0.1:{port}"],
                "webhook_poll_seconds": 0.05,
                "webhook_timeout_seconds": 20.0,
                "webhook_lease_seconds": 30.0,
                "webhook_batch_size": 4,
            }
        )
        receiver.hold_paths.add("/slow")
        for path in ("/slow", "/healthy"):
            endpoints_made.append(
                await store.create_endpoint(
                    pool,
                    partner_id=tenant.partner.id,
                    url=receiver.url(path),
                    event_types=[t.value for t in store.EventType],
                    secret="whsec_" + "A" * 44,
                    created_by=tenant.admin.id,
                )
            )
        onboarding_id, _ = await make_client(pool, tenant)
        for status in statuses:
            await onboardings.set_status(pool, onboarding_id=onboarding_id, status=status)
        try:
            async with httpx.AsyncClient() as http, delivering(pool, http, hook_settings):
                # The slow endpoint's first event is held (its next ones wait for it, in order);
                # the healthy endpoint gets all three meanwhile.
                await receiver.wait_for(len(statuses) + 1, within=5.0)
                healthy = [
                    r.json["data"]["status"] for r in receiver.received if r.path == "/healthy"
                ]
                assert healthy == [s.value for s in statuses]
                assert [r.path for r in receiver.received].count("/slow") == 1
                receiver.release.set()
                await receiver.wait_for(2 * len(statuses), within=5.0)
        finally:
            receiver.release.set()  # a failed check must not leave the request held
