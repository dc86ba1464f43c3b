"""Apply store/migrations/NNNN_*.sql in order, once each, safely from several processes at once."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant shared by every process of this service: pg_advisory_xact_lock serialises them.
_ADVISORY_LOCK_KEY = 7_240_315_001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 0001_name.sql: {path.name}")
        found.append(Migration(int(match.group(1)), path.stem, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a version number in {directory}")
    return found


async def apply_migrations(dsn: str, *, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the names applied by this call.

    The whole run holds a transaction-scoped advisory lock, so two processes starting together
    (API and worker in docker-compose) apply each migration exactly once: the second waits,
    then finds nothing left to do.
    """
    migrations = load_migrations(directory)
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _ADVISORY_LOCK_KEY)
            await conn.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for migration in migrations:
                if migration.version in done:
                    continue
                log.info("applying migration", extra={"migration": migration.name})
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
                applied.append(migration.name)
    finally:
        await conn.close()
    return applied
