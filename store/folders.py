"""The fiscal_years and folders tables: a client's fiscal years and its folder tree."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from domain.folders import PlannedFolder
from store.pool import Conn, Pool


@dataclass(frozen=True)
class FiscalYearRow:
    client_id: uuid.UUID
    starts_on: date
    ends_on: date
    created_at: datetime


@dataclass(frozen=True)
class FolderRow:
    id: uuid.UUID
    client_id: uuid.UUID
    path: str
    parent_path: str | None
    name: str
    kind: str
    position: int
    created_at: datetime


_FISCAL_YEAR_COLUMNS = "client_id, starts_on, ends_on, created_at"
_FOLDER_COLUMNS = "id, client_id, path, parent_path, name, kind, position, created_at"


def folder_id(client_id: uuid.UUID, path: str) -> uuid.UUID:
    """The id of a client's folder, derived from its path so a replayed insert reuses it."""
    return uuid.uuid5(client_id, path)


def _inserted(status: str) -> int:
    # asyncpg hands back the command tag, "INSERT 0 <rows>".
    return int(status.rsplit(" ", 1)[-1])


async def create_fiscal_year(
    pool: Pool | Conn, *, client_id: uuid.UUID, starts_on: date, ends_on: date
) -> bool:
    """Record a fiscal year once; False when the client already has one starting that day."""
    status = await pool.execute(
        """
        INSERT INTO fiscal_years (client_id, starts_on, ends_on) VALUES ($1, $2, $3)
        ON CONFLICT (client_id, starts_on) DO NOTHING
        """,
        client_id,
        starts_on,
        ends_on,
    )
    return _inserted(str(status)) == 1


async def list_fiscal_years(pool: Pool | Conn, *, client_id: uuid.UUID) -> list[FiscalYearRow]:
    records = await pool.fetch(
        f"SELECT {_FISCAL_YEAR_COLUMNS} FROM fiscal_years WHERE client_id = $1 ORDER BY starts_on",
        client_id,
    )
    return [FiscalYearRow(**dict(r)) for r in records]


async def insert_folders(
    conn_or_pool: Pool | Conn, *, client_id: uuid.UUID, folders: Sequence[PlannedFolder]
) -> int:
    """Insert the folders not created yet, in one statement; return how many were new.

    Every folder's parent must already exist or come in the same call: the foreign key is checked
    at the end of the statement, so order within one call does not matter, across calls it does.
    """
    if not folders:
        return 0
    status = await conn_or_pool.execute(
        """
        INSERT INTO folders (client_id, id, path, parent_path, name, kind, position)
        SELECT $1::uuid, t.id, t.path, t.parent_path, t.name, t.kind, t.position
        FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[])
            AS t (id, path, parent_path, name, kind, position)
        ON CONFLICT (client_id, path) DO NOTHING
        """,
        client_id,
        [folder_id(client_id, f.path) for f in folders],
        [f.path for f in folders],
        [f.parent_path for f in folders],
        [f.name for f in folders],
        [f.kind for f in folders],
        [f.position for f in folders],
    )
    return _inserted(str(status))


async def list_folders(pool: Pool | Conn, *, client_id: uuid.UUID) -> list[FolderRow]:
    """The client's folders by path, in code-point order (parents first, months in date order)."""
    # COLLATE "C": the order must not depend on the database's locale, which may ignore the "/"
    # and spaces that separate path segments.
    records = await pool.fetch(
        f"""
        SELECT {_FOLDER_COLUMNS} FROM folders WHERE client_id = $1 ORDER BY path COLLATE "C"
        """,
        client_id,
    )
    return [_folder(r) for r in records]


async def count_folders(pool: Pool | Conn, *, client_id: uuid.UUID) -> int:
    count = await pool.fetchval("SELECT count(*) FROM folders WHERE client_id = $1", client_id)
    return int(count)


def _folder(record: asyncpg.Record) -> FolderRow:
    return FolderRow(**dict(record))


# ---- later fiscal years: added after the onboarding, their folders made by a workflow ---------


class FiscalYearOverlap(Exception):
    """The fiscal year would overlap another of the client's (the database refused it)."""


@dataclass(frozen=True)
class FiscalYearStateRow:
    client_id: uuid.UUID
    starts_on: date
    ends_on: date
    created_at: datetime
    # None: the onboarding's year, whose folders follow the onboarding.
    folders_state: str | None
    folders_failure: str | None
    workflow_id: str | None
    requested_by: uuid.UUID | None
    updated_at: datetime


_FISCAL_YEAR_STATE_COLUMNS = (
    "client_id, starts_on, ends_on, created_at, folders_state, folders_failure, workflow_id, "
    "requested_by, updated_at"
)


async def add_fiscal_year(
    pool: Pool | Conn,
    *,
    client_id: uuid.UUID,
    starts_on: date,
    ends_on: date,
    workflow_id: str,
    requested_by: uuid.UUID | None,
) -> bool:
    """Record a later fiscal year, its folders to be created by `workflow_id`; False when the
    client already has a year starting that day. Raises FiscalYearOverlap."""
    try:
        status = await pool.execute(
            """
            INSERT INTO fiscal_years
                (client_id, starts_on, ends_on, folders_state, workflow_id, requested_by)
            VALUES ($1, $2, $3, 'creating', $4, $5)
            ON CONFLICT (client_id, starts_on) DO NOTHING
            """,
            client_id,
            starts_on,
            ends_on,
            workflow_id,
            requested_by,
        )
    except asyncpg.ExclusionViolationError as exc:
        raise FiscalYearOverlap(str(exc)) from exc
    return _inserted(str(status)) == 1


async def list_fiscal_year_states(
    pool: Pool | Conn, *, client_id: uuid.UUID
) -> list[FiscalYearStateRow]:
    """The client's fiscal years, oldest first, with where their folders stand."""
    records = await pool.fetch(
        f"""
        SELECT {_FISCAL_YEAR_STATE_COLUMNS} FROM fiscal_years WHERE client_id = $1
        ORDER BY starts_on
        """,
        client_id,
    )
    return [FiscalYearStateRow(**dict(r)) for r in records]


async def set_folders_state(
    pool: Pool | Conn,
    *,
    client_id: uuid.UUID,
    starts_on: date,
    state: str,
    failure: str | None = None,
) -> bool:
    """Record where a fiscal year's folders stand; False when there is no such year."""
    status = await pool.execute(
        """
        UPDATE fiscal_years SET folders_state = $3, folders_failure = $4, updated_at = now()
        WHERE client_id = $1 AND starts_on = $2
        """,
        client_id,
        starts_on,
        state,
        failure,
    )
    return str(status) == "UPDATE 1"


async def count_existing_folders(
    pool: Pool | Conn, *, client_id: uuid.UUID, paths: Sequence[str]
) -> int:
    """How many of `paths` the client's tree holds."""
    if not paths:
        return 0
    count = await pool.fetchval(
        "SELECT count(*) FROM folders WHERE client_id = $1 AND path = ANY($2::text[])",
        client_id,
        list(paths),
    )
    return int(count)


async def list_year_folders(
    pool: Pool | Conn, *, client_id: uuid.UUID, starts_on: date, ends_on: date
) -> list[FolderRow]:
    """The client's tree as one fiscal year sees it: the shared (template) folders and the month
    folders of the year's months, by path (parents first, months in date order)."""
    # Month folders are named "YYYY-MM <month>" whatever the language (domain.fiscal_calendar),
    # so their
    # first seven characters say which month they hold.
    records = await pool.fetch(
        f"""
        SELECT {_FOLDER_COLUMNS} FROM folders
        WHERE client_id = $1
          AND (kind <> 'month' OR left(name, 7) BETWEEN to_char($2::date, 'YYYY-MM')
                                                    AND to_char($3::date, 'YYYY-MM'))
        ORDER BY path COLLATE "C"
        """,
        client_id,
        starts_on,
        ends_on,
    )
    return [_folder(r) for r in records]


async def month_folder_parents(pool: Pool | Conn, *, client_id: uuid.UUID) -> set[str]:
    """The paths of the client's folders that hold month folders (in any fiscal year)."""
    records = await pool.fetch(
        "SELECT DISTINCT parent_path FROM folders WHERE client_id = $1 AND kind = 'month'",
        client_id,
    )
    return {r["parent_path"] for r in records}
