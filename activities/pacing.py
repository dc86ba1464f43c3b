"""Pacing requests to a rate-limited API: per process, and for the whole fleet in PostgreSQL.

The registry task queue's server-side rate limit is a token bucket: it lets a burst through after
a quiet moment, and requests dispatched evenly still reach the registry unevenly. The registry
counts requests in a sliding one-second window and answers 429 past 7. A `RequestPacer` in front
of each request closes that gap for the process.

Its window is counted from when each request *ended* (answer received or failed), not from when
it was sent: the registry saw that request somewhere between the two, so a request sent a whole
window after the end of the N-th one before it can never be the (N+1)-th in any window the
registry counts, however late our event loop sent or read anything. It costs one request's
duration per window in throughput, and needs no safety margin on the clock.

A `RequestPacer` cannot see the other processes: with three registry workers, three pacers let
21 requests a second through. A `FleetPacer` keeps the same rule for the whole fleet, in
PostgreSQL (store/limits.py), on the database's clock so the hosts' clocks do not matter: places
counted from each request's end, and start slots one interval apart (GCRA) so the fleet's
requests leave evenly rather than seven at once. Slots alone are not enough: the registry sees a
request a little after its slot (the database's answer, an event loop's wake-up, the send, the
registry's own queue), by a delay that varies from one request and one process to the next, and
8 slots 1/7 s apart span exactly 1 s: measured with three worker processes on a busy machine,
requests arrived up to 650 ms after their slot, and slots 1.05/7 s apart still met 4 to 6 429s
(up to 11 in a second). Counting from the end makes that delay harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable

from store import limits
from store.pool import Pool


class RequestPacer:
    def __init__(
        self,
        max_requests: int,
        per_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_requests < 1 or per_seconds <= 0:
            raise ValueError("a pacer needs max_requests >= 1 and per_seconds > 0")
        self.max_requests = max_requests
        self.per_seconds = per_seconds
        self._clock = clock
        self._in_flight = 0
        self._ended: deque[float] = deque()  # end times within the window, oldest first
        self._an_end = asyncio.Event()
        # asyncio.Lock wakes its waiters in order: the first to wait is the first to go.
        self._lock = asyncio.Lock()

    @classmethod
    def per_second(cls, rate: float) -> RequestPacer:
        """At most `rate` requests a second, counted in whole requests: 7/s allows 7 in any
        second; 0.5/s (INSEE's 30 a minute) allows 1 in any 2 s."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        max_requests = max(1, math.floor(rate))
        return cls(max_requests, max_requests / rate)

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """Hold one of the window's places for the request made inside the block."""
        async with self._lock:
            while True:
                now = self._clock()
                while self._ended and now - self._ended[0] >= self.per_seconds:
                    self._ended.popleft()
                if self._in_flight + len(self._ended) < self.max_requests:
                    break
                if self._ended:
                    await asyncio.sleep(self.per_seconds - (now - self._ended[0]))
                else:  # every place is held by a request still running
                    self._an_end.clear()
                    await self._an_end.wait()
            self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._ended.append(self._clock())
            self._an_end.set()


class NoSlotSoon(Exception):
    """No fleet slot within the caller's wait: ask again after `retry_in` seconds."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"no request slot free within the wait; retry in {retry_in:.1f}s")
        self.retry_in = retry_in


class FleetPacer:
    """`RequestPacer`'s window for a whole fleet: every process using the same `key` and
    database shares at most `max_requests` places in any `per_seconds`, counted from each
    request's end, and takes its start slot one `interval` apart from the others'.

    The places are rows in PostgreSQL (store/limits.py). An in-flight place whose connection
    goes is taken as ended then: it counts one more window (its request may have reached the
    registry just before) and goes, so a process killed mid-request leaks nothing. A start slot
    is reserved at most `horizon` seconds ahead, so a request's wait plus its own timeout stays
    within the activity's start-to-close timeout; past it, or with every place held, the request
    asks again when one should be free, with a little jitter so waiters do not all ask at once.
    """

    def __init__(
        self,
        pool: Pool,
        *,
        key: str,
        rate: float,
        margin: float = 0.0,
        horizon: float = 4.0,
        wait_at_most: float | None = None,
    ) -> None:
        if rate <= 0 or margin < 0 or horizon < 0:
            raise ValueError("a fleet pacer needs rate > 0, margin >= 0 and horizon >= 0")
        self._pool = pool
        self.key = key
        self.max_requests = max(1, math.floor(rate))
        self.per_seconds = self.max_requests / rate
        self.interval = (1.0 + margin) / rate
        self.horizon = horizon
        # A person waiting at a page cannot be parked like an activity: past this wait the
        # request is given up (NoSlotSoon) rather than sent late. None: wait as long as it takes.
        self.wait_at_most = wait_at_most
        if wait_at_most is not None:
            self.horizon = min(horizon, wait_at_most)

    @contextlib.asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        """The request made inside the block starts at its slot and holds a place until it
        ends (answer received or failed)."""
        waited = 0.0
        while True:
            place = await limits.enter_window(
                self._pool,
                key=self.key,
                max_in_window=self.max_requests,
                window=self.per_seconds,
                interval=self.interval,
                tolerance=self.horizon,
            )
            if place.granted and place.place_id is not None:
                break
            pause = place.retry_in + random.uniform(0, self.interval)  # noqa: S311 (spreading waiters, not a secret)
            if self.wait_at_most is not None and waited + place.retry_in > self.wait_at_most:
                raise NoSlotSoon(max(place.retry_in, self.interval))
            waited += pause
            await asyncio.sleep(pause)
        try:
            if place.starts_in > 0:
                await asyncio.sleep(place.starts_in)
            yield
        finally:
            # Shielded: a cancelled activity still ends its place now rather than when the
            # place expires.
            await asyncio.shield(limits.leave_window(self._pool, place_id=place.place_id))
