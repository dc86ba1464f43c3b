"""RequestPacer: never more than N request starts in any window, whatever the load; and a paced
registry client that never meets the stand-in's 429, however many lookups run at once."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from activities.pacing import RequestPacer
from activities.registry import RegistryConfig, build_registry_client
from devstack.registry_standin import RegistryStandin

DANONE = "55203253400646"


def most_in_any_window(starts: list[float], window: float) -> int:
    starts = sorted(starts)
    return max(sum(1 for t in starts[i:] if t - start < window) for i, start in enumerate(starts))


async def test_pacer_allows_at_most_n_in_any_window_first_come_first_served() -> None:
    """However long each request takes, no window of 0.2 s sees a 4th start of a request, and
    requests go in the order they asked."""
    pacer = RequestPacer(3, 0.2)
    starts: list[tuple[int, float]] = []

    async def one(n: int) -> None:
        async with pacer.request():
            starts.append((n, time.monotonic()))
            await asyncio.sleep(0.05 if n % 2 else 0.0)  # some requests are slow

    tasks = []
    for n in range(10):
        tasks.append(asyncio.create_task(one(n)))
        await asyncio.sleep(0)  # queue in order
    await asyncio.gather(*tasks)
    assert [n for n, _ in starts] == list(range(10))
    assert most_in_any_window([t for _, t in starts], 0.2) == 3


async def test_pacer_place_held_while_the_request_runs_and_freed_if_it_fails() -> None:
    pacer = RequestPacer(1, 0.05)
    with pytest.raises(RuntimeError):
        async with pacer.request():
            raise RuntimeError("connection reset")
    order: list[str] = []

    async def slow() -> None:
        async with pacer.request():
            order.append("slow starts")
            await asyncio.sleep(0.1)
            order.append("slow ends")

    async def next_one() -> None:
        async with pacer.request():
            order.append("next starts")

    await asyncio.gather(slow(), next_one())
    assert order == ["slow starts", "slow ends", "next starts"]


def test_pacer_per_second_counts_whole_requests() -> None:
    seven = RequestPacer.per_second(7)
    assert seven.max_requests == 7
    assert seven.per_seconds == pytest.approx(1.0)
    insee = RequestPacer.per_second(0.5)  # 30 a minute
    assert insee.max_requests == 1
    assert insee.per_seconds == pytest.approx(2.0)
    with pytest.raises(ValueError):
        RequestPacer.per_second(0)
    with pytest.raises(ValueError):
        RequestPacer(0, 1.0)


async def test_paced_client_never_meets_the_registry_limit() -> None:
    """30 lookups at once, paced at the published 7/s: no 429, never 8 in a second."""
    async with RegistryStandin() as standin, httpx.AsyncClient() as http:
        config = RegistryConfig(base_url=standin.url, rate_limit=7)
        client = build_registry_client(config, http=http)
        found = await asyncio.gather(*(client.lookup_siret(DANONE) for _ in range(30)))
        assert all(company is not None for company in found)
        stats = standin.stats
    assert stats.total_requests == 30
    assert stats.rate_limited == 0
    assert stats.max_requests_per_window <= 7
