"""GCRA limiter rows: slots one interval apart on the database's clock, whoever asks, refusals
that say when to ask again, token-bucket bursts, and nothing held by a taker."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

import asyncpg
import pytest

from store import limits
from store.pool import Pool


def _key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def _takes(
    pool: Pool, n: int, *, key: str, interval: float, tolerance: float
) -> list[tuple[limits.Slot, float]]:
    """`n` back-to-back takes, each with the seconds since just before the first one began: a
    slot's distance from now shrinks by the time its take came late, never more (the machine may
    be busy: the bounds below allow for that instead of assuming the takes are instant)."""
    began = time.monotonic()
    taken = []
    for _ in range(n):
        slot = await limits.take(pool, key=key, interval=interval, tolerance=tolerance)
        taken.append((slot, time.monotonic() - began))
    return taken


# Rounding between the database's clock and ours.
EPS = 0.005


async def test_take_slots_one_interval_apart(pool: Pool) -> None:
    """Back-to-back takes start now, then one and two intervals later."""
    interval = 1.0
    taken = await _takes(pool, 3, key=_key(), interval=interval, tolerance=5)
    slots = [slot for slot, _ in taken]
    assert all(s.granted for s in slots)
    for k, (slot, late) in enumerate(taken):
        assert k * interval - late - EPS <= slot.starts_in <= k * interval + EPS
    ends = [s.next_free for s in slots if s.next_free is not None]
    assert len(ends) == 3
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ends)]
    assert gaps == pytest.approx([interval, interval], abs=1e-6)


async def test_take_concurrent_from_many_connections_never_shares_a_slot(
    database_url: str,
) -> None:
    """40 takers on 8 connections of their own race for one key: 40 distinct slots, exactly one
    interval apart on the database's clock, and the first at most one interval from now."""
    key = _key()
    connections = [await asyncpg.connect(database_url) for _ in range(8)]
    try:

        async def five(conn: asyncpg.Connection) -> list[limits.Slot]:
            return [await limits.take(conn, key=key, interval=0.01, tolerance=10) for _ in range(5)]

        slots = [s for batch in await asyncio.gather(*map(five, connections)) for s in batch]
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    assert all(s.granted for s in slots)
    ends = sorted(s.next_free for s in slots if s.next_free is not None)
    assert len(set(ends)) == 40
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ends)]
    assert min(gaps) == pytest.approx(0.01, abs=1e-6)
    assert max(gaps) < 0.5  # taken back to back, not spread over a free-running clock


async def test_take_beyond_tolerance_refused_with_when_to_ask_again(pool: Pool) -> None:
    """Slots reserved up to the tolerance; the next is refused, told to come back once one is
    within reach, and takes nothing: after that wait it is granted."""
    key = _key()
    # Slots start 0, 2 and 4 s from now; the next, at 6 s, is 1 s past the tolerance.
    interval, tolerance = 2.0, 5.0
    taken = await _takes(pool, 5, key=key, interval=interval, tolerance=tolerance)
    assert [slot.granted for slot, _ in taken] == [True, True, True, False, False]
    (refused, late), (again, _) = taken[3], taken[4]
    assert refused.starts_in == float("inf")
    assert 3 * interval - tolerance - late - EPS <= refused.retry_in <= 3 * interval - tolerance
    assert again.next_free == refused.next_free  # nothing was taken
    await asyncio.sleep(refused.retry_in + 0.02)
    assert (await limits.take(pool, key=key, interval=interval, tolerance=tolerance)).granted


async def test_token_bucket_burst_then_one_per_interval(pool: Pool) -> None:
    """burst 5 at 1/s: five go at once with remaining 4..0, the sixth is refused for ~1 s."""
    key = _key()
    interval, burst = 1.0, 5
    tolerance = (burst - 1) * interval
    taken = await _takes(pool, burst + 1, key=key, interval=interval, tolerance=tolerance)
    slots = [slot for slot, _ in taken]
    assert [s.granted for s in slots] == [True] * burst + [False]
    assert [s.remaining for s in slots] == [4, 3, 2, 1, 0, 0]
    assert 0 < slots[-1].retry_in <= interval
    late = taken[-2][1]
    assert burst * interval - late - EPS <= slots[-2].reset_in <= burst * interval
    await asyncio.sleep(slots[-1].retry_in + 0.01)
    assert (await limits.take(pool, key=key, interval=interval, tolerance=tolerance)).granted


async def test_idle_limiter_starts_afresh(pool: Pool) -> None:
    """After a quiet spell longer than the slots taken, a take starts now again: an idle
    limiter owes nothing (and a process that died mid-way left nothing behind)."""
    key = _key()
    for _ in range(3):
        await limits.take(pool, key=key, interval=0.05, tolerance=1)
    await asyncio.sleep(0.2)
    slot = await limits.take(pool, key=key, interval=0.05, tolerance=0)
    assert slot.granted and slot.starts_in == pytest.approx(0.0, abs=0.01)


async def test_take_refuses_nonsense_parameters(pool: Pool) -> None:
    with pytest.raises(ValueError):
        await limits.take(pool, key=_key(), interval=0, tolerance=1)
    with pytest.raises(ValueError):
        await limits.take(pool, key=_key(), interval=1, tolerance=-1)
