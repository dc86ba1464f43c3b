"""The outbox bench's core (bench/outbox.py) at a tiny size, with two delivery loops in this
process: its checker finds nothing wrong with a correct delivery, and does find what it is there
to find."""

from __future__ import annotations

import dataclasses

import httpx

from bench.outbox import Arrival, Kind, Plan, check, queue, receiving, wait_delivered
from core.settings import Settings
from store import webhooks as store
from store.pool import Pool
from worker.webhooks import delivering


async def test_outbox_bench_core_delivers_every_event_once_and_in_order(
    pool: Pool, settings: Settings
) -> None:
    """200 events over 10 endpoints (one slow, one failing, one recovering), two loops: nothing
    lost, nothing answered twice, every onboarding's events in order, every signature valid."""
    plan = Plan.make(events=200, endpoints=10)
    assert {e.kind for e in plan.endpoints} == set(Kind)
    async with receiving(plan) as receiver:
        queued = await queue(pool, plan, receiver)
        port = receiver.base_url.rsplit(":", 1)[1]
        hook_settings = settings.model_copy(
            update={
                "outbound_allow_private_hosts": [f"127.0.0.1:{port}"],
                "webhook_backoff_base_seconds": 0.1,
                "webhook_backoff_max_seconds": 1.0,
                "webhook_poll_seconds": 0.05,
            }
        )
        try:
            async with (
                httpx.AsyncClient() as http,
                delivering(pool, http, hook_settings),
                delivering(pool, http, hook_settings),
            ):
                expected = sum(plan.events_per_endpoint for e in plan.endpoints if e.expected)
                assert await wait_delivered(
                    receiver, plan, expected=expected, within=25.0, settle=0.5
                )
        finally:
            # The failing endpoint's deliveries would otherwise be tried by every later test's loop.
            for partner_id, endpoint_id in queued.endpoints:
                await store.delete_endpoint(pool, partner_id=partner_id, endpoint_id=endpoint_id)
        checked = check(plan, receiver, queued)
    assert checked.queued == 200
    assert (checked.lost, checked.duplicates, checked.order_violations) == (0, 0, 0)
    assert (checked.bad_signatures, checked.not_queued) == (0, 0)
    assert checked.healthy_delivered == checked.healthy

    # The checker itself: a second copy, an event out of its order and a missing one are seen.
    healthy = [a for a in receiver.arrivals if a.status == 200]
    first, later = (
        healthy[0],
        next(
            a
            for a in healthy
            if a.path == healthy[0].path
            and a.key == healthy[0].key
            and a.number > healthy[0].number
        ),
    )
    receiver.arrivals.append(dataclasses.replace(first))
    broken = check(plan, receiver, queued)
    assert (broken.duplicates, broken.order_violations) == (1, 1)
    receiver.arrivals[:] = [a for a in receiver.arrivals if a is not later and a != first]
    assert check(plan, receiver, queued).lost == 2
    receiver.arrivals.append(
        Arrival(first.path, "msg_other", first.key, 0, first.at, 200, signed=False)
    )
    forged = check(plan, receiver, queued)
    assert (forged.bad_signatures, forged.not_queued) == (1, 1)
