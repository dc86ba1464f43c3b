"""GCRA limiter rows: slots one interval apart on the database's clock, whoever asks, refusals
that say when to ask again, token-bucket bursts, and nothing held by a taker."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import asyncpg
import pytest

from store import limits
from store.pool import Pool


def _key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_take_slots_one_interval_apart(pool: Pool) -> None:
    """Back-to-back takes start now, then one and two intervals later."""
    key = _key()
    slots = [await limits.take(pool, key=key, interval=0.2, tolerance=5) for _ in range(3)]
    assert all(s.granted for s in slots)
    assert slots[0].starts_in == pytest.approx(0.0, abs=0.01)
    assert slots[1].starts_in == pytest.approx(0.2, abs=0.02)
    assert slots[2].starts_in == pytest.approx(0.4, abs=0.02)
    ends = [s.next_free for s in slots if s.next_free is not None]
    assert len(ends) == 3
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ends)]
    assert gaps == pytest.approx([0.2, 0.2], abs=1e-6)


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
    # Slots start 0, 0.1 and 0.2 s from now; the next, at 0.3 s, is past the tolerance.
    granted = [await limits.take(pool, key=key, interval=0.1, tolerance=0.25) for _ in range(3)]
    assert all(s.granted for s in granted)
    refused = await limits.take(pool, key=key, interval=0.1, tolerance=0.25)
    assert not refused.granted
    assert refused.starts_in == float("inf")
    assert 0.0 < refused.retry_in <= 0.06
    again = await limits.take(pool, key=key, interval=0.1, tolerance=0.25)
    assert not again.granted and again.next_free == refused.next_free  # nothing was taken
    await asyncio.sleep(refused.retry_in + 0.02)
    assert (await limits.take(pool, key=key, interval=0.1, tolerance=0.25)).granted


async def test_token_bucket_burst_then_one_per_interval(pool: Pool) -> None:
    """burst 5 at 10/s: five go at once with remaining 4..0, the sixth is refused for ~0.1 s."""
    key = _key()
    interval, burst = 0.1, 5
    tolerance = (burst - 1) * interval
    slots = [
        await limits.take(pool, key=key, interval=interval, tolerance=tolerance)
        for _ in range(burst + 1)
    ]
    assert [s.granted for s in slots] == [True] * burst + [False]
    assert [s.remaining for s in slots] == [4, 3, 2, 1, 0, 0]
    assert 0 < slots[-1].retry_in <= interval
    assert burst * interval - 0.1 < slots[-2].reset_in <= burst * interval
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
