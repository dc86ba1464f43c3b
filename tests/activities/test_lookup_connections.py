"""Lookups of an import against the fleet pacer, on one real PostgreSQL pool: more lookups at once
than the pool has connections must all get through.

A lookup of an import holds a pooled connection (its SIREN's advisory lock) until its request has
ended, and the fleet pacer asks the same pool for a connection to take the request's slot. The
rate bench stalled on that: every connection of the registry worker's pool held by a lookup
waiting for its slot, so no slot could be taken, until Temporal's start-to-close timeout cancelled
them (202 lookups cancelled waiting in pool.acquire under limits.enter_window)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.registry import (
    LookupCompanyInput,
    LookupCompanyResult,
    RegistryActivities,
    RegistryConfig,
    build_registry_client,
)
from devstack.registry_standin import RegistryStandin
from devstack.synthetic_companies import head_office_siret, synthetic_units
from store.pool import Pool, create_pool
from tests.activity_helpers import _import
from tests.factories import Tenant

POOL_SIZE = 3
LOOKUPS = 3 * POOL_SIZE
RATE = 7


@pytest.fixture
async def small_pool(database_url: str) -> AsyncIterator[Pool]:
    small = await create_pool(database_url, min_size=1, max_size=POOL_SIZE)
    try:
        yield small
    finally:
        await small.close()


async def test_more_lookups_than_connections_all_take_their_fleet_slot(
    small_pool: Pool, pool: Pool, tenant: Tenant
) -> None:
    units = synthetic_units(LOOKUPS)
    import_id = await _import(pool, tenant)
    async with (
        RegistryStandin(rate_limit=RATE, extra_units=units) as standin,
        httpx.AsyncClient(timeout=5) as http,
    ):
        # As the worker builds them: the pacer and the SIREN locks on the process's one pool.
        registry = build_registry_client(
            RegistryConfig(base_url=standin.url, rate_limit=RATE), http, pool=small_pool
        )
        activities = RegistryActivities(registry, small_pool)

        async def lookup(siret: str) -> LookupCompanyResult:
            return await ActivityEnvironment().run(
                activities.lookup_company,
                LookupCompanyInput(siret=siret, import_id=import_id, siren_shared=False),
            )

        lookups = asyncio.gather(*(lookup(head_office_siret(u)) for u in units))
        try:
            # At the limit, LOOKUPS take about LOOKUPS / RATE s; a stall never ends.
            answers = await asyncio.wait_for(lookups, timeout=LOOKUPS / RATE + 10)
        except TimeoutError:
            pytest.fail(
                f"{LOOKUPS} lookups on a pool of {POOL_SIZE} stalled: "
                f"{standin.stats.total_requests} requests reached the registry"
            )
    assert [a.company is not None and a.company.siret for a in answers] == [
        head_office_siret(u) for u in units
    ]
    assert standin.stats.total_requests == LOOKUPS
    assert standin.stats.rate_limited == 0
