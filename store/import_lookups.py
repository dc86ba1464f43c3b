"""Registry answers remembered within one import (the import_lookups table).

Rows of one file that share a SIREN are usually started side by side, so their lookups run at
the same moment: `locked` serialises the lookups of one (import, SIREN) on a PostgreSQL advisory
lock, and the second one finds the first one's answer instead of asking the registry again. The
lock is a session lock on the connection it holds: a worker that dies mid-lookup closes the
connection, and the lock goes with it. It is the service's only session state, and the pool does
not reset sessions on release (`store.pool`): a block that cannot say for sure that it unlocked
(cancelled while locking or unlocking, the connection failing) closes its connection instead.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

from domain.company import CompanyRecord
from store.pool import Conn, Pool

_UNIT = ""  # the siret column of the answer about the legal unit


@dataclass(frozen=True)
class Remembered:
    """What this import already learnt about one SIRET and its SIREN."""

    # None: never asked about this SIRET; else (found, record).
    siret_found: bool | None
    record: CompanyRecord | None
    # None: never asked about the SIREN as such; False: the registry does not know it.
    siren_found: bool | None


def _lock_key(import_id: uuid.UUID, siren: str) -> str:
    return f"import-lookup:{import_id}:{siren}"


@contextlib.asynccontextmanager
async def locked(pool: Pool, import_id: uuid.UUID, siren: str) -> AsyncIterator[Conn]:
    """A connection holding the (import, SIREN) lookup lock until the block ends."""
    key = _lock_key(import_id, siren)
    async with pool.acquire() as conn:
        with _closed_unless_done(conn):
            await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", key)
        try:
            yield conn
        finally:
            with _closed_unless_done(conn):
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)


@contextlib.contextmanager
def _closed_unless_done(conn: Conn) -> Iterator[None]:
    """Close `conn` if the block does not finish: its lock may be held or not, nobody can tell."""
    try:
        yield
    except BaseException:
        conn.terminate()
        raise


async def recall(conn: Conn, *, import_id: uuid.UUID, siren: str, siret: str) -> Remembered:
    rows = await conn.fetch(
        """
        SELECT siret, found, record FROM import_lookups
        WHERE import_id = $1 AND siren = $2 AND siret IN ($3, $4)
        """,
        import_id,
        siren,
        siret,
        _UNIT,
    )
    by_siret = {r["siret"]: r for r in rows}
    hit = by_siret.get(siret)
    unit = by_siret.get(_UNIT)
    return Remembered(
        siret_found=hit["found"] if hit else None,
        record=CompanyRecord.model_validate(hit["record"]) if hit and hit["record"] else None,
        siren_found=unit["found"] if unit else None,
    )


_REMEMBER = """
    INSERT INTO import_lookups (import_id, siren, siret, found, record)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (import_id, siren, siret) DO UPDATE
        SET found = EXCLUDED.found, record = EXCLUDED.record, looked_up_at = now()
"""


async def remember_siren(
    conn: Conn, *, import_id: uuid.UUID, siren: str, records: Sequence[CompanyRecord]
) -> None:
    """The answer about a whole legal unit: every establishment it listed (none: unknown)."""
    await conn.executemany(
        _REMEMBER,
        [(import_id, siren, _UNIT, bool(records), None)]
        + [(import_id, siren, r.siret, True, r.model_dump(mode="json")) for r in records],
    )


async def remember_siret(
    conn: Conn,
    *,
    import_id: uuid.UUID,
    siren: str,
    siret: str,
    record: CompanyRecord | None,
) -> None:
    """The answer about one SIRET (None: the registry does not know it)."""
    await conn.execute(
        _REMEMBER,
        import_id,
        siren,
        siret,
        record is not None,
        record.model_dump(mode="json") if record else None,
    )


async def shared_sirens(pool: Pool, *, import_id: uuid.UUID, sirens: Sequence[str]) -> set[str]:
    """Those of `sirens` that more than one valid row of the import belongs to."""
    rows = await pool.fetch(
        """
        SELECT left(siret, 9) AS siren FROM import_rows
        WHERE import_id = $1 AND request IS NOT NULL AND left(siret, 9) = ANY($2::text[])
        GROUP BY 1 HAVING count(*) > 1
        """,
        import_id,
        list(sirens),
    )
    return {r["siren"] for r in rows}
