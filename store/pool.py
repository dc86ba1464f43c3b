"""The asyncpg pool: created once per process, with a ping for /healthz."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

Pool = asyncpg.Pool
# What `pool.acquire()` hands out, and a plain connection: store functions accept either.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns come and go as Python objects, not strings.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a released connection needs beyond asyncpg's own clean-up: nothing.

    asyncpg always rolls back a transaction left open and drops listeners on release; its default
    reset query also sends `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every
    release, a round trip and a statement per query the service makes (6% of the worker's CPU
    and a share of PostgreSQL's in the throughput bench). None of that state outlives a statement
    here: no SET or set_config, no LISTEN, no cursor outside a transaction, and the one session
    lock (`store.import_lookups.locked`) is released by its block or dies with its connection.
    `tests/store/test_pool_reset.py` keeps it so: it reads every SQL text of the service for
    session state and checks what the lock leaves behind when its block is cancelled."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> Pool:
    pool: Pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        # A connection idle in the pool is closed after a while, so a PostgreSQL restart
        # leaves few stale ones behind.
        max_inactive_connection_lifetime=60.0,
    )
    return pool


@asynccontextmanager
async def snapshot(pool: Pool) -> AsyncIterator[Conn]:
    """A connection whose statements all read the database as of one moment.

    Under PostgreSQL's default READ COMMITTED each statement sees what was committed when it
    began: a response read in several statements (a page and its total, a delivery and its
    attempts) can mix a row from before a write with one from after it. A read-only REPEATABLE
    READ transaction takes one snapshot at its first statement for all of them; being read-only
    it never waits for a lock nor fails a serialization check."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        yield conn


async def ping(pool: Pool, *, seconds: float = 2.0) -> None:
    """Raise if PostgreSQL does not answer.

    After a PostgreSQL restart the pool may still hold a connection to the old server: the first
    query on it fails and asyncpg discards it, so one retry tells a dead server from a dead socket.
    """
    last: BaseException | None = None
    for _ in range(2):
        try:
            value: Any = await pool.fetchval("SELECT 1", timeout=seconds)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            last = exc
            continue
        if value == 1:
            return
    assert last is not None
    raise last
