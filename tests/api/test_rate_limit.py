"""Per-API-key rate limits: a token bucket per key shared by every API process (it lives in
PostgreSQL), 429 problems with Retry-After and RateLimit-* fields, a budget of its own for
import reads, and one key's budget never spent by another key."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from temporalio.client import Client

from api.deps import Services
from api.main import create_app
from api.problems import PROBLEM_MEDIA_TYPE
from core.settings import Settings
from devstack.serving import serve_app
from store.pool import Pool, create_pool
from tests.factories import Tenant, make_tenant

BURST = 3


@pytest.fixture
def strict_settings(settings: Settings) -> Settings:
    """A bucket small enough to empty in a test: 3 at once, then one every 2 s."""
    return settings.model_copy(
        update={
            "api_rate_limit_per_second": 0.5,
            "api_rate_limit_burst": BURST,
            "api_rate_limit_import_reads_per_second": 0.5,
            "api_rate_limit_import_reads_burst": 2,
        }
    )


@pytest.fixture
async def two_apis(
    strict_settings: Settings, database_url: str, client: Client
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two API instances, each with a pool of its own on the same database, each served by its
    own uvicorn: two API processes as far as the limiter can tell."""
    async with AsyncExitStack() as stack:
        served = []
        for _ in range(2):
            pool = await create_pool(database_url, min_size=1, max_size=2)
            stack.push_async_callback(pool.close)
            services = Services(settings=strict_settings, pool=pool, temporal=client)
            app = create_app(strict_settings, services=services)
            served.append(await stack.enter_async_context(serve_app(app)))
        yield served[0], served[1]


async def test_burst_then_429_with_headers_across_two_api_instances(
    two_apis: tuple[httpx.AsyncClient, httpx.AsyncClient], tenant: Tenant
) -> None:
    """The key's burst of 3 is spent across both instances; the 4th request, on either one, is a
    429 problem telling when to come back; success answers count down RateLimit-Remaining."""
    first, second = two_apis
    answers = [await api.get("/v1/plans", headers=tenant.auth) for api in (first, second, first)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["RateLimit-Limit"] for a in answers] == ["3", "3", "3"]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert all(1 <= int(a.headers["RateLimit-Reset"]) <= 6 for a in answers)

    refused = await second.get("/v1/plans", headers=tenant.auth)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = refused.json()
    assert problem["type"].endswith("/rate-limited") and problem["status"] == 429
    assert tenant.key not in refused.text
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Limit"] == "3"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 2  # one token every 2 s
    assert (await first.get("/v1/plans", headers=tenant.auth)).status_code == 429

    await asyncio.sleep(retry_after)
    again = await first.get("/v1/plans", headers=tenant.auth)
    assert again.status_code == 200, again.text
    assert again.headers["RateLimit-Remaining"] == "0"


async def test_concurrent_requests_on_two_instances_share_one_budget(
    two_apis: tuple[httpx.AsyncClient, httpx.AsyncClient], tenant: Tenant
) -> None:
    """Twelve requests at once, split over both instances: exactly the burst goes through."""
    first, second = two_apis
    answers = await asyncio.gather(
        *((first if n % 2 else second).get("/v1/plans", headers=tenant.auth) for n in range(12))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * BURST + [429] * (12 - BURST)


async def test_one_key_spending_its_budget_leaves_other_keys_alone(
    two_apis: tuple[httpx.AsyncClient, httpx.AsyncClient], tenant: Tenant, pool: Pool
) -> None:
    first, second = two_apis
    for _ in range(BURST):
        assert (await first.get("/v1/plans", headers=tenant.auth)).status_code == 200
    assert (await first.get("/v1/plans", headers=tenant.auth)).status_code == 429
    other = await make_tenant(pool, name="Cabinet Autre")
    assert (await second.get("/v1/plans", headers=other.auth)).status_code == 200


async def test_import_reads_have_a_budget_of_their_own(
    two_apis: tuple[httpx.AsyncClient, httpx.AsyncClient], tenant: Tenant
) -> None:
    """With the default budget spent, an import's progress can still be read (its own budget
    of 2), and spending that one does not give back the default one."""
    first, second = two_apis
    for _ in range(BURST):
        await first.get("/v1/plans", headers=tenant.auth)
    assert (await first.get("/v1/plans", headers=tenant.auth)).status_code == 429
    progress = f"/v1/imports/{uuid.uuid4()}"
    assert [(await second.get(progress, headers=tenant.auth)).status_code for _ in range(3)] == [
        404,
        404,
        429,
    ]
    assert (await second.get("/v1/plans", headers=tenant.auth)).status_code == 429


async def test_unauthenticated_request_is_401_not_counted(
    two_apis: tuple[httpx.AsyncClient, httpx.AsyncClient], tenant: Tenant
) -> None:
    """A bad key is refused as such (401) and spends nobody's budget."""
    first, _ = two_apis
    for _ in range(BURST + 2):
        bad = await first.get("/v1/plans", headers={"Authorization": "Bearer onb_nope"})
        assert bad.status_code == 401
    for _ in range(BURST):
        assert (await first.get("/v1/plans", headers=tenant.auth)).status_code == 200
