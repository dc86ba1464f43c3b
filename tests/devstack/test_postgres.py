"""The embedded PostgreSQL: PostgreSQL 18 with its contrib extensions, and the carry-over of a
`.devstack/` that PostgreSQL 16 (the `pgserver` wheel, releases before issue 25) made."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from devstack.ports import free_port
from devstack.postgres import (
    CARRIED_OVER,
    MAJOR,
    EmbeddedPostgres,
    cluster_version,
    create_scratch_database,
)


async def test_contrib_extensions_can_be_created(postgres_admin_dsn: str) -> None:
    """pg_trgm, unaccent and btree_gin install on the server the tests and `make dev` run, and
    work: a trigram similarity and an accent-stripped name come back."""
    dsn = await create_scratch_database(postgres_admin_dsn, "ext")
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SHOW server_version_num") >= "180000"
        for extension in ("pg_trgm", "unaccent", "btree_gin"):
            await conn.execute(f"CREATE EXTENSION {extension}")
        assert await conn.fetchval("SELECT unaccent('Élodie Lefèvre')") == "Elodie Lefevre"
        assert await conn.fetchval("SELECT similarity('dupont', 'dupond')") > 0.3
    finally:
        await conn.close()


def _pg16_cluster_with_rows(data_dir: Path) -> None:
    """A data directory as releases before issue 25 left it: PostgreSQL 16 from pgserver, the
    app database with rows (an accented name among them), stopped."""
    old = EmbeddedPostgres(data_dir, port=free_port(), wheel=CARRIED_OVER["16"])
    old.start()
    try:
        old.create_database("onboarding")

        async def fill() -> None:
            conn = await asyncpg.connect(old.dsn("onboarding"))
            try:
                await conn.execute("CREATE TABLE firm (id int PRIMARY KEY, name text NOT NULL)")
                await conn.executemany(
                    "INSERT INTO firm VALUES ($1, $2)", [(n, f"Société {n}") for n in range(500)]
                )
            finally:
                await conn.close()

        asyncio.run(fill())
    finally:
        old.stop()
    assert cluster_version(data_dir) == "16"


def _rows(server: EmbeddedPostgres) -> tuple[str, int, str]:
    async def read() -> tuple[str, int, str]:
        conn = await asyncpg.connect(server.dsn("onboarding"))
        try:
            version = await conn.fetchval("SHOW server_version_num")
            count = await conn.fetchval("SELECT count(*) FROM firm")
            name = await conn.fetchval("SELECT name FROM firm WHERE id = 499")
            return str(version), int(count), str(name)
        finally:
            await conn.close()

    return asyncio.run(read())


@pytest.fixture
def devstack_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: its 0700 parents would stop the unprivileged server user.
    root = Path(tempfile.mkdtemp(prefix="onboarding-carry-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_start_carries_a_postgres_16_directory_over_to_18(devstack_dir: Path) -> None:
    """The devstack's PostgreSQL started on a PG16 `.devstack/pg` runs 18 with every row, and
    the old cluster is kept beside it (renamed, still a PG16 cluster); a second start is plain."""
    data_dir = devstack_dir / "pg"
    _pg16_cluster_with_rows(data_dir)
    server = EmbeddedPostgres(data_dir, port=free_port())
    server.start()
    try:
        version, count, name = _rows(server)
    finally:
        server.stop()
    assert version >= "180000" and count == 500 and name == "Société 499"
    assert cluster_version(data_dir) == MAJOR
    assert cluster_version(devstack_dir / "pg.pg16-old") == "16"
    assert sorted(p.name for p in devstack_dir.iterdir()) == ["pg", "pg.pg16-old"]
    server.start()  # no carry-over again: the rows stay, nothing else moves
    try:
        assert _rows(server)[1] == 500
    finally:
        server.stop()
    assert sorted(p.name for p in devstack_dir.iterdir()) == ["pg", "pg.pg16-old"]


CARRY_OVER_SCRIPT = """
import logging, sys, time
from pathlib import Path
import devstack.postgres as pg
logging.basicConfig(level=logging.INFO)
started = pg.EmbeddedPostgres.start
def start(self, **kwargs):
    # Both servers run once the new one has started: hold there, so the kill lands half-way
    # whatever the machine's load (polling for the new server's lock file could miss it).
    started(self, **kwargs)
    if self.data_dir.name.endswith("pg18-new"):
        Path(sys.argv[2]).touch()
        time.sleep(3600)
pg.EmbeddedPostgres.start = start
pg.carry_over(Path(sys.argv[1]))
"""


def test_carry_over_killed_half_way_is_done_again_on_the_next_start(devstack_dir: Path) -> None:
    """A carry-over killed outright while both servers run leaves the old cluster readable and
    the state file naming it; the next start does the carry-over again, with every row."""
    data_dir = devstack_dir / "pg"
    _pg16_cluster_with_rows(data_dir)
    held = devstack_dir / "held"
    process = subprocess.Popen(
        [sys.executable, "-c", CARRY_OVER_SCRIPT, str(data_dir), str(held)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    new_cluster = devstack_dir / "pg.pg18-new" / "postmaster.pid"
    deadline = time.monotonic() + 120
    while not held.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()
    process.wait()
    held.unlink()
    assert new_cluster.exists(), "the carry-over ended before its new server ran"
    assert not data_dir.exists() and (devstack_dir / "pg.carry-over.json").exists()
    old_lock = devstack_dir / "pg.pg16-old" / "postmaster.pid"
    deadline = time.monotonic() + 30  # the servers stop as their parent died
    while (old_lock.exists() or new_cluster.exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    server = EmbeddedPostgres(data_dir, port=free_port())
    server.start()
    try:
        version, count, _ = _rows(server)
    finally:
        server.stop()
    assert version >= "180000" and count == 500
    assert sorted(p.name for p in devstack_dir.iterdir()) == ["pg", "pg.pg16-old"]
