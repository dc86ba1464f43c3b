"""Migrations: ordered, applied once, safe to run twice and from several processes at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from devstack.postgres import create_scratch_database
from store.migrate import apply_migrations, load_migrations


async def test_migrations_apply_once_under_concurrency(postgres_admin_dsn: str) -> None:
    """Five runners racing on a fresh database apply each migration exactly once, no error."""
    dsn = await create_scratch_database(postgres_admin_dsn, "migrate")
    results = await asyncio.gather(*(apply_migrations(dsn) for _ in range(5)))
    expected = [m.name for m in load_migrations()]
    assert sorted(results, key=len)[-1] == expected
    assert sum(len(r) for r in results) == len(expected)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [r["name"] for r in rows] == expected


async def test_migrations_second_run_applies_nothing(postgres_admin_dsn: str) -> None:
    """Running migrations again on an up-to-date database is a no-op."""
    dsn = await create_scratch_database(postgres_admin_dsn, "migrate")
    assert await apply_migrations(dsn)
    assert await apply_migrations(dsn) == []


async def test_new_migration_is_applied_in_order(postgres_admin_dsn: str, tmp_path: Path) -> None:
    """A later file is applied after the earlier ones, on a database that has the earlier ones."""
    dsn = await create_scratch_database(postgres_admin_dsn, "migrate")
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE a (id int);")
    assert await apply_migrations(dsn, directory=tmp_path) == ["0001_first"]
    (tmp_path / "0002_second.sql").write_text("CREATE TABLE b (a_id int);")
    assert await apply_migrations(dsn, directory=tmp_path) == ["0002_second"]


async def test_failed_migration_rolls_back_whole_run(
    postgres_admin_dsn: str, tmp_path: Path
) -> None:
    """A broken migration leaves no half-applied state: the run is one transaction."""
    dsn = await create_scratch_database(postgres_admin_dsn, "migrate")
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok (id int);")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE broken (id nosuchtype);")
    with pytest.raises(asyncpg.PostgresError):
        await apply_migrations(dsn, directory=tmp_path)
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('ok')") is None
    finally:
        await conn.close()


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    """A file that does not follow NNNN_name.sql stops the runner before touching the database."""
    (tmp_path / "first.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match=r"0001_name\.sql"):
        load_migrations(tmp_path)


async def test_no_transaction_migration_commits_earlier_ones_and_builds_concurrently(
    postgres_admin_dsn: str, tmp_path: Path
) -> None:
    """A `-- migrate: no-transaction` file runs its CREATE INDEX CONCURRENTLY (refused inside a
    transaction) after the migrations before it, and is recorded once."""
    dsn = await create_scratch_database(postgres_admin_dsn, "migrate")
    (tmp_path / "0001_table.sql").write_text("CREATE TABLE t (a int);")
    (tmp_path / "0002_index.sql").write_text(
        "-- migrate: no-transaction\n-- why\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a\n    ON t (a);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a2 ON t ((a * 2));\n"
    )
    (tmp_path / "0003_after.sql").write_text("CREATE TABLE u (id int);")
    assert await apply_migrations(dsn, directory=tmp_path) == [
        "0001_table",
        "0002_index",
        "0003_after",
    ]
    assert await apply_migrations(dsn, directory=tmp_path) == []
    conn = await asyncpg.connect(dsn)
    try:
        valid = await conn.fetch(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c"
            " ON c.oid = i.indexrelid WHERE c.relname LIKE 't_a%' ORDER BY 1"
        )
    finally:
        await conn.close()
    assert [(r["relname"], r["indisvalid"]) for r in valid] == [("t_a", True), ("t_a2", True)]


async def test_failed_concurrent_build_is_built_again_on_the_next_run(
    postgres_admin_dsn: str, tmp_path: Path
) -> None:
    """A concurrent build that fails leaves an invalid index and no record; once the cause is
    fixed, the next run drops that index and builds a valid one (IF NOT EXISTS alone would keep
    the invalid one for good)."""
    dsn = await create_scratch_database(postgres_admin_dsn, "migrate")
    (tmp_path / "0001_table.sql").write_text(
        "CREATE TABLE t (a int); INSERT INTO t VALUES (1), (1);"
    )
    (tmp_path / "0002_unique.sql").write_text(
        "-- migrate: no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (a);\n"
    )
    with pytest.raises(asyncpg.UniqueViolationError):
        await apply_migrations(dsn, directory=tmp_path)
    conn = await asyncpg.connect(dsn)
    try:
        assert (
            await conn.fetchval(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE c.relname = 't_a'"
            )
            is False
        )
        await conn.execute("DELETE FROM t WHERE ctid = (SELECT min(ctid) FROM t)")
        assert await apply_migrations(dsn, directory=tmp_path) == ["0002_unique"]
        assert (
            await conn.fetchval(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE c.relname = 't_a'"
            )
            is True
        )
    finally:
        await conn.close()
