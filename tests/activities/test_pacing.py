"""RequestPacer: never more than N request starts in any window, whatever the load; and a paced
registry client that never meets the stand-in's 429, however many lookups run at once."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from activities.pacing import FleetPacer, NoSlotSoon, RequestPacer
from activities.registry import RegistryConfig, build_registry_client
from devstack.registry_standin import RegistryStandin, StandinStats
from store.pool import Pool
from tests.eventually import eventually

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


# One OS process of a registry-worker fleet: `concurrency` lookups at a time until `until` (wall
# clock), through the client the worker builds (its own pacer, the fleet pacer on the shared
# database). Prints what it got when it ends.
_FLEET_MEMBER = """
import asyncio, json, sys, time
import httpx
from activities.registry import RegistryConfig, RegistryRateLimited, build_registry_client
from store.pool import create_pool

async def main(dsn, url, seconds, concurrency):
    pool = await create_pool(dsn, min_size=1, max_size=4)
    got = {"found": 0, "rate_limited": 0}
    async with httpx.AsyncClient() as http:
        client = build_registry_client(
            RegistryConfig(base_url=url, rate_limit=7), http=http, pool=pool
        )
        # Ready (imports and pool done, seconds on a loaded machine): wait for the common start.
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        until = time.time() + seconds
        async def lookups():
            while time.time() < until:
                try:
                    await client.lookup_siret(sys.argv[5])
                    got["found"] += 1
                except RegistryRateLimited:
                    got["rate_limited"] += 1
        await asyncio.gather(*(lookups() for _ in range(concurrency)))
    await pool.close()
    print(json.dumps(got), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
"""
ROOT = Path(__file__).resolve().parents[2]


async def _fleet(
    database_url: str, url: str, seconds: float, size: int = 3
) -> list[asyncio.subprocess.Process]:
    """`size` processes, started together once all are ready, each looking up for `seconds`."""
    members = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _FLEET_MEMBER,
            database_url,
            url,
            str(seconds),
            "10",
            DANONE,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(size)
    ]
    for member in members:
        assert member.stdout is not None
        line = await asyncio.wait_for(member.stdout.readline(), timeout=120)
        assert line.strip() == b"ready", line
    for member in members:
        assert member.stdin is not None
        member.stdin.write(b"go\n")
        await member.stdin.drain()
    return members


async def _outcome(process: asyncio.subprocess.Process) -> dict[str, int]:
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    result: dict[str, int] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def _rate(stats: StandinStats) -> float:
    assert stats.first_request_at is not None and stats.last_request_at is not None
    return (stats.total_requests - 1) / (stats.last_request_at - stats.first_request_at)


async def test_three_worker_processes_share_the_limit(
    registry: RegistryStandin, database_url: str
) -> None:
    """Three OS processes, ten lookups at a time each, against the stand-in's 7/s: no 429, never
    8 in a second, and together close to the fleet's rate (one process alone would take 7/s)."""
    members = await _fleet(database_url, registry.url, 8)
    outcomes = [await _outcome(m) for m in members]
    stats = registry.stats
    assert [o["rate_limited"] for o in outcomes] == [0, 0, 0]
    assert all(o["found"] > 0 for o in outcomes), outcomes  # every process had its share
    assert stats.rate_limited == 0
    assert stats.max_requests_per_window <= 7
    # A loose floor (a shared CI machine); `make bench` measures the real figure.
    assert _rate(stats) >= 0.7 * 7, stats


async def test_process_killed_while_waiting_for_slots_leaks_nothing(
    registry: RegistryStandin, database_url: str
) -> None:
    """SIGKILL one of three processes while it holds a place in the queue of slots: the other
    two go on at the fleet's rate, still with no 429 and never 8 in a second."""
    members = await _fleet(database_url, registry.url, 9)

    async def requests() -> int:
        return registry.stats.total_requests

    try:
        await eventually(requests, until=lambda n: n >= 15, what="15 lookups asked", within=30)
    except AssertionError as failed:
        raise AssertionError([await _outcome(m) for m in members]) from failed
    members[0].kill()  # ten lookups in flight or waiting for their slot
    await members[0].wait()
    at_kill = registry.stats
    outcomes = [await _outcome(m) for m in members[1:]]
    after = registry.stats
    assert [o["rate_limited"] for o in outcomes] == [0, 0]
    assert after.rate_limited == 0
    assert after.max_requests_per_window <= 7
    assert at_kill.last_request_at is not None and after.last_request_at is not None
    since_kill = (after.total_requests - at_kill.total_requests) / (
        after.last_request_at - at_kill.last_request_at
    )
    assert since_kill >= 0.7 * 7, (at_kill, after)


async def test_fleet_pacer_with_a_wait_bound_gives_up_rather_than_waiting(pool: Pool) -> None:
    """A pacer for a person waiting (wait_at_most) refuses with NoSlotSoon when every place is
    held, after about that wait and not the held requests' whole duration."""
    key = f"test:{uuid.uuid4()}"
    holder = FleetPacer(pool, key=key, rate=2.0)
    waiting = FleetPacer(pool, key=key, rate=2.0, wait_at_most=0.5)
    async with holder.request(), holder.request():
        started = time.monotonic()
        with pytest.raises(NoSlotSoon) as refused:
            async with waiting.request():
                pytest.fail("no place was free")
        assert time.monotonic() - started < 2.0
        assert refused.value.retry_in > 0
