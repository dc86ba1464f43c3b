"""Apply store/migrations/NNNN_*.sql in order, once each, safely from several processes at once."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant shared by every process of this service: the advisory lock serialises them.
_ADVISORY_LOCK_KEY = 7_240_315_001


# First line of a migration that must run outside a transaction (CREATE INDEX CONCURRENTLY,
# which PostgreSQL refuses inside one): its statements run one by one, each committed.
NO_TRANSACTION = "-- migrate: no-transaction"
_INDEX_BUILD = re.compile(
    r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+(\w+)", re.IGNORECASE
)
# A runner waiting for another one polls: a session waiting inside pg_advisory_lock() holds a
# snapshot, which a CREATE INDEX CONCURRENTLY of the runner holding the lock would wait for.
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def transactional(self) -> bool:
        return not self.sql.lstrip().startswith(NO_TRANSACTION)

    def statements(self) -> list[str]:
        """The statements of a no-transaction migration: each ends with `;` at the end of a
        line (such files hold plain statements, no function bodies)."""
        found: list[str] = []
        current: list[str] = []
        for line in self.sql.splitlines():
            if not current and (not line.strip() or line.strip().startswith("--")):
                continue
            current.append(line)
            if line.rstrip().endswith(";"):
                found.append("\n".join(current).strip().removesuffix(";"))
                current = []
        if "\n".join(current).strip():
            raise ValueError(f"{self.name}: the last statement does not end with ';'")
        return found


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


async def _lock(conn: asyncpg.Connection) -> None:
    while True:
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", _ADVISORY_LOCK_KEY):
            return
        await asyncio.sleep(_POLL_SECONDS)


async def _run_outside_transaction(conn: asyncpg.Connection, migration: Migration) -> None:
    for statement in migration.statements():
        built = _INDEX_BUILD.match(statement)
        if built:
            # A concurrent build that failed (or was killed) leaves an invalid index behind,
            # which IF NOT EXISTS would then keep for good: drop it and build again.
            invalid = await conn.fetchval(
                "SELECT NOT i.indisvalid FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace",
                built.group(1).lower(),
            )
            if invalid:
                await conn.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{built.group(1)}"')
        await conn.execute(statement)


async def apply_migrations(dsn: str, *, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the names applied by this call.

    The whole run holds an advisory lock, so two processes starting together (API and worker
    in docker-compose) apply each migration exactly once: the second waits, then finds nothing
    left to do. Consecutive migrations run in one transaction (a broken one leaves none of
    them applied); a no-transaction migration (NO_TRANSACTION) commits those before it, then
    runs its statements one by one and is recorded once they all succeeded: statements that
    can run again (IF NOT EXISTS), since a failure half-way is retried from its first one.
    """
    migrations = load_migrations(directory)
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        await _lock(conn)
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
        pending = [m for m in migrations if m.version not in done]
        while pending:
            if not pending[0].transactional:
                migration = pending.pop(0)
                log.info("applying migration", extra={"migration": migration.name})
                await _run_outside_transaction(conn, migration)
                await _record(conn, migration)
                applied.append(migration.name)
                continue
            batch: list[Migration] = []
            while pending and pending[0].transactional:
                batch.append(pending.pop(0))
            async with conn.transaction():
                for migration in batch:
                    log.info("applying migration", extra={"migration": migration.name})
                    await conn.execute(migration.sql)
                    await _record(conn, migration)
            applied += [m.name for m in batch]
    finally:
        await conn.close()  # ends the session, and with it the advisory lock
    return applied


async def _record(conn: asyncpg.Connection, migration: Migration) -> None:
    await conn.execute(
        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
        migration.version,
        migration.name,
    )
