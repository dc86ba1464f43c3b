"""Migration 0022 on a database that had firms: existing firms keep unmuting new clients at the
end of setup, firms made after it keep new clients muted."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import asyncpg

from devstack.postgres import create_scratch_database
from store import partners
from store.migrate import MIGRATIONS_DIR, apply_migrations
from store.pool import create_pool


async def test_existing_firms_keep_unmuting_and_new_firms_start_muted(
    postgres_admin_dsn: str, tmp_path: Path
) -> None:
    """A firm from before 0022 reads false; one made after it reads true."""
    dsn = await create_scratch_database(postgres_admin_dsn, "migrate")
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0022":
            shutil.copy(path, tmp_path / path.name)
    await apply_migrations(dsn, directory=tmp_path)
    conn = await asyncpg.connect(dsn)
    try:
        before = uuid.uuid4()
        await conn.execute("INSERT INTO partners (id, name) VALUES ($1, 'Avant')", before)
    finally:
        await conn.close()

    applied = await apply_migrations(dsn)
    assert applied[0] == "0022_notify_checklist"  # then every later one
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        assert await partners.new_clients_muted(pool, partner_id=before) is False
        after, _, _ = await partners.create_partner(
            pool, name="Après", admin_email="a@example.com", admin_name="A"
        )
        assert await partners.new_clients_muted(pool, partner_id=after.id) is True
    finally:
        await pool.close()
