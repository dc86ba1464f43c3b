"""The pool releases connections without asyncpg's session reset (`store.pool`): safe only while
no SQL of the service leaves session state behind, and while the one session lock
(`store.import_lookups.locked`) never outlives its block, even cancelled."""

from __future__ import annotations

import ast
import asyncio
import re
import uuid
from pathlib import Path

import asyncpg
import pytest

from store import import_lookups
from store.pool import Pool, create_pool
from tests.eventually import eventually

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("activities", "api", "cli", "core", "devstack", "domain", "store", "worker", "workflows")
# Statements whose effect lasts beyond their transaction, as PostgreSQL spells them.
SESSION_STATE = re.compile(
    r"pg_(try_)?advisory_lock(_shared)?\s*\(|\bLISTEN\b|set_config\s*\(|\bCREATE\s+TEMP"
    r"|\bWITH\s+HOLD\b|\bPREPARE\s+\w+\s+AS\b|\bSET\s+(SESSION|ROLE|search_path|TIME\s+ZONE)\b"
    r"|\bSET\s+\w+\s*(=|\bTO\b)"
)
# Where session state is allowed, and why it cannot outlive its block.
ALLOWED = {
    "store/import_lookups.py": "the lookup lock, released or its connection closed",
    "store/migrate.py": "the migration runner's lock, on a connection of its own (never the "
    "pool's) that it closes at the end of the run",
    "store/migrations/0027_list_indexes.sql": "ALTER DATABASE ... SET random_page_cost: a "
    "default every new session of the database takes, not state one session leaves behind",
}


def _sql_texts(path: Path) -> list[str]:
    """The SQL a file may send: a .sql file without its comments; a module's strings and
    f-strings, but not its docstrings."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".sql":
        return [re.sub(r"--[^\n]*", "", text)]
    tree = ast.parse(text)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    # An f-string is one text, its holes standing as a name (a table's, say).
    parts = {
        id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values
    }
    texts = [
        "".join(str(v.value) if isinstance(v, ast.Constant) else "x" for v in node.values)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
    ]
    texts += [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings | parts
    ]
    return [re.sub(r"--[^\n]*", "", t) for t in texts]


def _session_statements(text: str) -> list[str]:
    """Session-setting SQL in `text` (keywords upper-case, as the service writes them), leaving
    out column assignments of UPDATE ... SET."""
    found = []
    for match in SESSION_STATE.finditer(text):
        if match.group(0).upper().startswith("SET"):
            words = re.findall(r"[A-Za-z_]+", text[max(0, match.start() - 80) : match.start()])
            if "UPDATE" in (w.upper() for w in words[-4:]):
                continue
        found.append(match.group(0))
    return found


def test_the_scan_finds_session_state() -> None:
    """The scan itself: each way of leaving session state is seen, column updates are not."""
    for sql in (
        "SELECT pg_advisory_lock(1)",
        "SELECT pg_try_advisory_lock_shared (1)",
        "LISTEN channel",
        "SELECT set_config('x', 'y', false)",
        "SET statement_timeout = 100",
        "SET search_path TO x",
        "SET SESSION AUTHORIZATION x",
        "CREATE TEMP TABLE t (a int)",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
    ):
        assert _session_statements(sql), sql
    for sql in (
        "UPDATE clients SET status = 'ready'",
        "UPDATE webhook_deliveries d\n    SET state = 'failed'",
        "INSERT INTO t VALUES (1) ON CONFLICT (key) DO UPDATE SET tat = t.tat",
        "SELECT pg_advisory_xact_lock(1)",
        "SET CONSTRAINTS ALL IMMEDIATE",
        "ALTER TABLE t ALTER COLUMN c SET DEFAULT now()",
    ):
        assert not _session_statements(sql), sql


def test_no_sql_of_the_service_leaves_session_state() -> None:
    """Every .py and .sql file of the service: session state only where it is allowed."""
    found: dict[str, list[str]] = {}
    scanned = 0
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*")):
            if path.suffix not in (".py", ".sql") or "__pycache__" in path.parts:
                continue
            scanned += 1
            name = path.relative_to(ROOT).as_posix()
            statements = [s for text in _sql_texts(path) for s in _session_statements(text)]
            if statements and name not in ALLOWED:
                found[name] = statements
    assert scanned > 100
    assert found == {}, f"session state the pool would not reset: {found}"


async def _lock_is_free(database_url: str, key: str) -> bool:
    other = await asyncpg.connect(database_url)
    try:
        free = await other.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key)
        if free:
            await other.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)
        return bool(free)
    finally:
        await other.close()


async def test_released_connection_keeps_no_transaction(pool: Pool) -> None:
    """A connection given back inside a transaction it did not end comes back out of it."""
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.execute("SELECT 1")
    for _ in range(3):
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT pg_current_xact_id_if_assigned()") is None


@pytest.mark.parametrize("where", ["inside the block", "waiting for the lock"])
async def test_cancelled_lookup_lock_leaves_no_lock_behind(database_url: str, where: str) -> None:
    """The lookup lock, its block cancelled while it holds the lock or while it waits for it:
    afterwards another session takes the lock at once, and the pool's connections hold none."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    import_id, siren = uuid.uuid4(), "552100554"
    key = import_lookups._lock_key(import_id, siren)
    holder: asyncpg.Connection | None = None
    try:
        inside = asyncio.Event()

        async def lookup() -> None:
            async with import_lookups.locked(pool, import_id, siren):
                inside.set()
                await asyncio.sleep(60)

        if where == "waiting for the lock":
            holder = await asyncpg.connect(database_url)
            await holder.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", key)
        task = asyncio.create_task(lookup())
        if where == "inside the block":
            await asyncio.wait_for(inside.wait(), 5)
        else:
            assert holder is not None
            locker = holder

            async def waiting() -> bool:
                return bool(
                    await locker.fetchval(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                )

            # The lookup's session is queued behind the holder's lock: it cannot be inside.
            await eventually(waiting, what="the lookup waiting for the other session's lock")
            assert not inside.is_set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        if holder is not None:
            await holder.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)
        async with pool.acquire() as conn:  # the pool's one connection, maybe a new one
            held = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1",
                conn.get_server_pid(),
            )
        assert held == 0
        assert await _lock_is_free(database_url, key)
    finally:
        if holder is not None:
            await holder.close()
        await pool.close()


async def test_lookup_lock_is_released_by_its_block(database_url: str) -> None:
    """The ordinary path: the block ends, the lock is free, the connection stays open for reuse."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    import_id, siren = uuid.uuid4(), "552100554"
    try:
        async with import_lookups.locked(pool, import_id, siren) as conn:
            pid = conn.get_server_pid()
            assert not await _lock_is_free(database_url, import_lookups._lock_key(import_id, siren))
        assert await _lock_is_free(database_url, import_lookups._lock_key(import_id, siren))
        async with pool.acquire() as conn:
            assert conn.get_server_pid() == pid
    finally:
        await pool.close()
