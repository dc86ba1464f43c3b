"""Pacing requests to a rate-limited API from one process: never more than N in any window.

The registry task queue's server-side rate limit bounds the whole fleet's lookups per second,
but it is a token bucket: it lets a burst through after a quiet moment, and requests dispatched
evenly still reach the registry unevenly. The registry counts requests in a sliding one-second
window and answers 429 past 7. A `RequestPacer` in front of each request closes that gap for the
process.

Its window is counted from when each request *ended* (answer received or failed), not from when
it was sent: the registry saw that request somewhere between the two, so a request sent a whole
window after the end of the N-th one before it can never be the (N+1)-th in any window the
registry counts, however late our event loop sent or read anything. It costs one request's
duration per window in throughput, and needs no safety margin on the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable


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
