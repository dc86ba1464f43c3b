"""Fleet-wide rate limits (the rate_limits table): one GCRA row per limiter key.

GCRA, the "generic cell rate algorithm", keeps one timestamp per key: the theoretical arrival
time (`tat`), when the limiter's next slot is free. A request at `now` takes the slot starting at
`max(tat, now)` and moves `tat` one `interval` past it, provided that slot starts no later than
`now + tolerance`; otherwise it is refused and told when to ask again. `tolerance` is what tells
the two uses apart:

- the registry pacer (activities/pacing.py) reserves a slot up to a few seconds ahead and waits
  for it, so the fleet's requests start one `interval` apart, however many processes ask;
- the API's per-key token bucket (api/ratelimit.py) passes `(burst - 1) * interval`: up to
  `burst` requests go through at once, then one per `interval`; it never waits.

Taking a slot is one atomic statement (the row lock of `INSERT ... ON CONFLICT DO UPDATE`
serialises concurrent takers), timed by the database's `clock_timestamp()` so the hosts' clocks
do not matter, and nothing is held afterwards: a process that dies leaks nothing but the slots it
had reserved, which simply pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from store.pool import Conn, Pool

# `now` is read once per statement (a CTE referenced twice is evaluated once). It is read before
# the row lock is granted, so under contention it is a little early: a granted slot then looks
# further away than it is, and its taker waits a little too long, never too little.
_TAKE = """
    WITH now AS (SELECT clock_timestamp() AS t),
    taken AS (
        INSERT INTO rate_limits AS r (key, tat)
        SELECT $1, now.t + make_interval(secs => $2) FROM now
        ON CONFLICT (key) DO UPDATE
            SET tat = greatest(r.tat, EXCLUDED.tat - make_interval(secs => $2))
                      + make_interval(secs => $2)
            WHERE r.tat <= EXCLUDED.tat - make_interval(secs => $2) + make_interval(secs => $3)
        RETURNING r.tat
    )
    SELECT true AS granted, extract(epoch FROM taken.tat - now.t)::float8 AS busy, taken.tat
    FROM taken, now
    UNION ALL
    -- Refused: the row as this statement's snapshot saw it (only a hint of when to ask again).
    SELECT false, extract(epoch FROM r.tat - now.t)::float8, r.tat
    FROM rate_limits r, now
    WHERE r.key = $1 AND NOT EXISTS (SELECT FROM taken)
"""


@dataclass(frozen=True)
class Slot:
    """The answer of `take`. Times are seconds from the database's now."""

    granted: bool
    interval: float
    tolerance: float
    # After a grant: until `tat`, the limiter's next free slot. After a refusal: the same, as
    # the row stood.
    busy: float
    # `tat` itself, on the database's clock (None: not seen).
    next_free: datetime | None = None

    @property
    def starts_in(self) -> float:
        """When the slot granted starts (0: now). The taker waits this long before its request."""
        return max(self.busy - self.interval, 0.0) if self.granted else math.inf

    @property
    def retry_in(self) -> float:
        """When asking again may be granted (0 after a grant)."""
        return 0.0 if self.granted else max(self.busy - self.tolerance, 0.0)

    @property
    def remaining(self) -> int:
        """Requests that could be granted right now, after this one (a token bucket's tokens)."""
        if not self.granted or self.busy > self.tolerance:
            return 0
        return math.floor((self.tolerance - self.busy) / self.interval + 1e-9) + 1

    @property
    def reset_in(self) -> float:
        """Until the limiter is idle again: every slot taken so far has started."""
        return max(self.busy, 0.0)


async def take(db: Pool | Conn, *, key: str, interval: float, tolerance: float = 0.0) -> Slot:
    """Take `key`'s next slot if it starts within `tolerance` seconds; one slot per `interval`.

    `interval` may differ between callers of one key (each move of `tat` is the caller's own):
    a fleet half upgraded to a new rate stays correct for both rates' requests.
    """
    if interval <= 0 or tolerance < 0:
        raise ValueError("a limiter needs interval > 0 and tolerance >= 0")
    row = await db.fetchrow(_TAKE, key, interval, tolerance)
    if row is None:
        # Refused by a row this statement's snapshot did not see yet (created concurrently):
        # that row's first slot is at most one interval away.
        return Slot(granted=False, interval=interval, tolerance=tolerance, busy=interval)
    return Slot(
        granted=bool(row["granted"]),
        interval=interval,
        tolerance=tolerance,
        busy=row["busy"],
        next_free=row["tat"],
    )


async def refused_for(db: Pool | Conn, *, key: str, tolerance: float) -> float:
    """How long a `take` of `key` with this `tolerance` would be refused from now, in seconds
    (0: it would be granted). Reads only: the caller is told, no slot is taken."""
    value: float | None = await db.fetchval(
        "SELECT extract(epoch FROM tat - clock_timestamp())::float8 - $2 "
        "FROM rate_limits WHERE key = $1",
        key,
        tolerance,
    )
    return max(value or 0.0, 0.0)


async def forget(db: Pool | Conn, *, key: str) -> None:
    """Drop a limiter's row: its next request starts afresh (tests, or a key that is gone)."""
    await db.execute("DELETE FROM rate_limits WHERE key = $1", key)


async def next_free(db: Pool | Conn, *, key: str) -> datetime | None:
    """When `key`'s next slot is free, on the database's clock (None: never used)."""
    value: datetime | None = await db.fetchval("SELECT tat FROM rate_limits WHERE key = $1", key)
    return value


@dataclass(frozen=True)
class Place:
    """The answer of `enter_window`: a place in the window and the start slot of its request."""

    granted: bool
    # Granted: the place's id (give it to `leave_window`) and when its slot starts.
    place_id: int | None = None
    starts_in: float = 0.0
    # Refused: when asking again may be granted.
    retry_in: float = 0.0


# Counts what may still be in the far side's window: requests ended less than `window` ago, and
# requests not ended whose writer's connection is alive and which started less than
# `max_request` ago. A request whose writer died (or that ran past `max_request`) is taken as
# ended when that is found, not forgotten: it may have reached the far side just before, so it
# counts for one more window (forgetting it at once let the survivors send a full window on top
# of the dead process's last requests: a 429 seen in CI). Ended rows go after their window.
_FORGET_PAST = """
    WITH lost AS (
        UPDATE rate_limit_requests SET ended_at = clock_timestamp()
        WHERE key = $1 AND ended_at IS NULL
          AND (started_at < clock_timestamp() - make_interval(secs => $3)
               OR backend_pid NOT IN (SELECT pid FROM pg_stat_activity))
        RETURNING id
    )
    DELETE FROM rate_limit_requests
    WHERE key = $1 AND ended_at < clock_timestamp() - make_interval(secs => $2)
"""
_COUNT_PLACES = """
    SELECT count(*) AS taken,
           extract(epoch FROM min(ended_at) + make_interval(secs => $2) - clock_timestamp())::float8
               AS first_free_in
    FROM rate_limit_requests WHERE key = $1
"""
_HOLD_PLACE = """
    INSERT INTO rate_limit_requests (key, backend_pid, started_at)
    VALUES ($1, pg_backend_pid(), clock_timestamp() + make_interval(secs => $2))
    RETURNING id
"""


async def enter_window(
    pool: Pool,
    *,
    key: str,
    max_in_window: int,
    window: float,
    interval: float,
    tolerance: float,
    max_request: float = 60.0,
) -> Place:
    """A place among the `max_in_window` requests of `key`'s sliding window, and the request's
    start slot (`take`, one `interval` apart, at most `tolerance` ahead), or a refusal.

    One transaction on the limiter's row lock, so takers on any number of hosts count one after
    the other. Give the place back with `leave_window` when the request has ended.
    """
    async with pool.acquire() as conn, conn.transaction():
        # The row lock (held to the end of the transaction) serialises the takers; each of the
        # next statements sees what the previous holder committed.
        await conn.execute(
            """
            INSERT INTO rate_limits (key, tat) VALUES ($1, '-infinity')
            ON CONFLICT (key) DO UPDATE SET tat = rate_limits.tat
            """,
            key,
        )
        await conn.execute(_FORGET_PAST, key, window, max_request)
        row = await conn.fetchrow(_COUNT_PLACES, key, window)
        assert row is not None
        if row["taken"] >= max_in_window:
            # Every place is held: ask again when the first ended one leaves the window, or
            # after one interval when they are all still running.
            first_free_in = row["first_free_in"]
            return Place(
                granted=False,
                retry_in=max(first_free_in, 0.0) if first_free_in is not None else interval,
            )
        slot = await take(conn, key=key, interval=interval, tolerance=tolerance)
        if not slot.granted:
            return Place(granted=False, retry_in=slot.retry_in)
        place_id: int = await conn.fetchval(_HOLD_PLACE, key, slot.starts_in)
        return Place(granted=True, place_id=place_id, starts_in=slot.starts_in)


async def leave_window(db: Pool | Conn, *, place_id: int) -> None:
    """The request of this place has ended: it counts for one more window, then goes."""
    await db.execute(
        "UPDATE rate_limit_requests SET ended_at = clock_timestamp() WHERE id = $1", place_id
    )
