"""The embedded PostgreSQL: PostgreSQL 18 with its contrib extensions, and the carry-over of a
`.devstack/` that PostgreSQL 16 (the `pgserver` wheel, releases before issue 25) made."""

from __future__ import annotations

import asyncpg

from devstack.postgres import create_scratch_database


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
