"""Pacing requests to a rate-limited API from one process: never more than N in any window.

The registry task queue's server-side rate limit bounds the whole fleet's lookups per second,
but it is a token bucket: it lets a burst through after a quiet moment, and requests dispatched
evenly still reach the registry unevenly. The registry counts requests in a sliding one-second
window and answers 429 past 7. A `RequestPacer` in front of each request closes that gap for the
process: at most `max_requests` start in any `per_seconds`, first come, first served.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable

# Kept below the published limit by this factor, so clock jitter between us and the registry
# never adds up to one request too many in its window.
SAFETY_MARGIN = 1.05


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
        self._started: deque[float] = deque()
        # asyncio.Lock wakes its waiters in order: the first to wait is the first to go.
        self._lock = asyncio.Lock()

    @classmethod
    def per_second(cls, rate: float, *, margin: float = SAFETY_MARGIN) -> RequestPacer:
        """At most `rate` requests a second, counted in whole requests: 7/s allows 7 in any
        1.05 s; 0.5/s (INSEE's 30 a minute) allows 1 in any 2.1 s."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        max_requests = max(1, math.floor(rate))
        return cls(max_requests, max_requests / rate * margin)

    async def wait(self) -> None:
        """Return when one more request may start now; it is counted from this moment."""
        async with self._lock:
            while True:
                now = self._clock()
                while self._started and now - self._started[0] >= self.per_seconds:
                    self._started.popleft()
                if len(self._started) < self.max_requests:
                    self._started.append(now)
                    return
                await asyncio.sleep(self.per_seconds - (now - self._started[0]))
