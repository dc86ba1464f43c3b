"""`store.pool.snapshot`: the statements of one answer read the database as of one moment."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from store.pool import Pool, snapshot


@pytest.fixture
async def table(pool: Pool) -> AsyncIterator[str]:
    name = f"snapshot_{uuid.uuid4().hex[:12]}"
    await pool.execute(f"CREATE TABLE {name} (n integer)")
    try:
        yield name
    finally:
        await pool.execute(f"DROP TABLE {name}")


async def _two_counts(conn: asyncpg.Connection, pool: Pool, table: str) -> tuple[int, int]:
    """Count, let another connection commit a row, count again."""
    before = await conn.fetchval(f"SELECT count(*) FROM {table}")
    await pool.execute(f"INSERT INTO {table} VALUES (1)")
    after = await conn.fetchval(f"SELECT count(*) FROM {table}")
    return int(before), int(after)


async def test_a_write_in_between_is_not_seen_by_the_second_read(pool: Pool, table: str) -> None:
    async with snapshot(pool) as conn:
        assert await _two_counts(conn, pool, table) == (0, 0)  # type: ignore[arg-type]
    # The default (READ COMMITTED) shows it: what the snapshot is for.
    async with pool.acquire() as conn:
        assert await _two_counts(conn, pool, table) == (1, 2)  # type: ignore[arg-type]


async def test_a_snapshot_writes_nothing_and_leaves_no_transaction(pool: Pool, table: str) -> None:
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        async with snapshot(pool) as conn:
            await conn.execute(f"INSERT INTO {table} VALUES (1)")
    assert await pool.fetchval(f"SELECT count(*) FROM {table}") == 0
    async with snapshot(pool) as conn:
        inside = conn.is_in_transaction()
    async with pool.acquire() as again:  # the pool hands back the connection just released
        assert inside and again is not None and not again.is_in_transaction()
