"""One registry request per SIREN within an import: lookup_company with an import id, against
the registry stand-in over real HTTP and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.registry import (
    LookupCompanyInput,
    LookupCompanyResult,
    RechercheEntreprisesClient,
    RegistryActivities,
)
from devstack.registry_standin import RegistryStandin
from store.pool import Pool
from tests.activity_helpers import _import
from tests.factories import Tenant

# The invented sole trader of the fixture (SIREN 842013575): a head office and a second site.
SOLE_TRADER_HEAD = "84201357500019"
SOLE_TRADER_SECOND = "84201357500027"
# The invented ceased company (SIREN 812345676): two closed establishments.
CEASED_HEAD = "81234567600017"
CEASED_SECOND = "81234567600025"
DANONE = "55203253400646"
UNKNOWN = "73282932000074"
# La Poste's head office is in the fixture; this other valid La Poste SIRET is not listed.
LA_POSTE_OTHER = "35600000000055"


@pytest.fixture
async def standin() -> AsyncIterator[RegistryStandin]:
    async with RegistryStandin() as server:
        yield server


@pytest.fixture
async def activities(standin: RegistryStandin, pool: Pool) -> AsyncIterator[RegistryActivities]:
    async with RechercheEntreprisesClient(standin.url, timeout=5) as client:
        yield RegistryActivities(client, pool)


async def _lookup(
    activities: RegistryActivities, siret: str, import_id: uuid.UUID | None, *, shared: bool
) -> LookupCompanyResult:
    return await ActivityEnvironment().run(
        activities.lookup_company,
        LookupCompanyInput(siret=siret, import_id=import_id, siren_shared=shared),
    )


async def test_rows_sharing_a_siren_cost_one_request_even_side_by_side(
    activities: RegistryActivities, standin: RegistryStandin, pool: Pool, tenant: Tenant
) -> None:
    """Two establishments of one company looked up at the same moment: one request, and each
    row gets its own establishment, as a lookup by SIRET would give it."""
    import_id = await _import(pool, tenant)
    head, second = await asyncio.gather(
        _lookup(activities, SOLE_TRADER_HEAD, import_id, shared=True),
        _lookup(activities, SOLE_TRADER_SECOND, import_id, shared=True),
    )
    assert standin.stats.total_requests == 1
    assert sorted([head.reused, second.reused]) == [False, True]
    assert head.company is not None and head.company.siret == SOLE_TRADER_HEAD
    assert head.company.is_head_office
    assert second.company is not None and second.company.siret == SOLE_TRADER_SECOND
    assert not second.company.is_head_office

    by_siret = await asyncio.gather(
        _lookup(activities, SOLE_TRADER_HEAD, None, shared=False),
        _lookup(activities, SOLE_TRADER_SECOND, None, shared=False),
    )
    assert [head.company, second.company] == [r.company for r in by_siret]
    assert standin.stats.total_requests == 3


async def test_closed_establishments_are_remembered_closed(
    activities: RegistryActivities, standin: RegistryStandin, pool: Pool, tenant: Tenant
) -> None:
    import_id = await _import(pool, tenant)
    first = await _lookup(activities, CEASED_HEAD, import_id, shared=True)
    second = await _lookup(activities, CEASED_SECOND, import_id, shared=True)
    assert standin.stats.total_requests == 1
    assert second.reused
    for result in (first, second):
        assert result.company is not None and not result.company.active


async def test_an_unknown_siren_is_asked_about_once(
    activities: RegistryActivities, standin: RegistryStandin, pool: Pool, tenant: Tenant
) -> None:
    import_id = await _import(pool, tenant)
    results = [await _lookup(activities, UNKNOWN, import_id, shared=True) for _ in range(3)]
    assert [r.company for r in results] == [None, None, None]
    assert [r.reused for r in results] == [False, True, True]
    assert standin.stats.total_requests == 1


async def test_a_siret_not_listed_with_its_siren_is_asked_about_itself(
    activities: RegistryActivities, standin: RegistryStandin, pool: Pool, tenant: Tenant
) -> None:
    """A large network lists only some establishments: the row's own SIRET is then asked,
    once, and its answer remembered like the others."""
    import_id = await _import(pool, tenant)
    other = await _lookup(activities, LA_POSTE_OTHER, import_id, shared=True)
    assert other.company is None and not other.reused
    assert standin.stats.total_requests == 2
    again = await _lookup(activities, LA_POSTE_OTHER, import_id, shared=True)
    assert again.company is None and again.reused
    head = await _lookup(activities, "35600000000048", import_id, shared=True)
    assert head.company is not None and head.company.is_head_office and head.reused
    assert standin.stats.total_requests == 2


async def test_a_siren_of_one_row_is_asked_by_siret(
    activities: RegistryActivities, standin: RegistryStandin, pool: Pool, tenant: Tenant
) -> None:
    """Not shared: the usual SIRET request (the cheapest for a large network), remembered."""
    import_id = await _import(pool, tenant)
    found = await _lookup(activities, DANONE, import_id, shared=False)
    assert found.company is not None and found.company.name == "DANONE"
    again = await _lookup(activities, DANONE, import_id, shared=False)
    assert again.reused and again.company == found.company
    assert standin.stats.total_requests == 1


async def test_answers_are_not_shared_between_imports(
    activities: RegistryActivities, standin: RegistryStandin, pool: Pool, tenant: Tenant
) -> None:
    """Each import asks afresh: a company may have changed since the last file."""
    for _ in range(2):
        import_id = await _import(pool, tenant)
        result = await _lookup(activities, DANONE, import_id, shared=True)
        assert result.company is not None and not result.reused
    assert standin.stats.total_requests == 2


async def test_a_failed_request_remembers_nothing(
    activities: RegistryActivities, standin: RegistryStandin, pool: Pool, tenant: Tenant
) -> None:
    """A 503 leaves nothing behind: the retry asks again and its answer is the one kept."""
    import_id = await _import(pool, tenant)
    standin.fail_next(1, status=503)
    with pytest.raises(ApplicationError) as caught:
        await _lookup(activities, DANONE, import_id, shared=True)
    assert caught.value.type == "RegistryUnavailable"
    retried = await _lookup(activities, DANONE, import_id, shared=True)
    assert retried.company is not None and not retried.reused
    assert standin.stats.total_requests == 2


async def test_lookup_siren_lists_head_office_first(standin: RegistryStandin) -> None:
    async with RechercheEntreprisesClient(standin.url, timeout=5) as client:
        listed = await client.lookup_siren("842 013 575")
        unknown = await client.lookup_siren(UNKNOWN[:9])
    assert listed is not None and [r.siret for r in listed] == [
        SOLE_TRADER_HEAD,
        SOLE_TRADER_SECOND,
    ]
    assert unknown == []
