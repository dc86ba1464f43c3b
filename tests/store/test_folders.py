"""store.folders against real PostgreSQL: fiscal years and folders, each created once."""

from __future__ import annotations

import uuid
from datetime import date

import asyncpg
import pytest

from domain.folders import PlannedFolder
from store import folders
from store.pool import Pool
from tests.factories import Tenant, make_client


async def _client(pool: Pool, tenant: Tenant) -> uuid.UUID:
    return (await make_client(pool, tenant, language="fr"))[1]


def _folder(path: str, *, position: int = 0, kind: str = "template") -> PlannedFolder:
    parent, _, name = path.rpartition("/")
    return PlannedFolder.model_validate(
        {
            "path": path,
            "parent_path": parent or None,
            "name": name,
            "kind": kind,
            "position": position,
        }
    )


TREE = [
    _folder("Comptabilité"),
    _folder("Comptabilité/Achats"),
    _folder("Comptabilité/Achats/2026-01 Janvier", kind="month"),
    _folder("Comptabilité/Achats/2026-02 Février", position=1, kind="month"),
    _folder("Juridique", position=1),
]


async def test_create_fiscal_year_twice_records_once(pool: Pool, tenant: Tenant) -> None:
    """The second call for the same start day inserts nothing and keeps the first row."""
    client_id = await _client(pool, tenant)
    first = await folders.create_fiscal_year(
        pool, client_id=client_id, starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31)
    )
    again = await folders.create_fiscal_year(
        pool, client_id=client_id, starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31)
    )
    assert (first, again) == (True, False)
    [row] = await folders.list_fiscal_years(pool, client_id=client_id)
    assert (row.client_id, row.starts_on, row.ends_on) == (
        client_id,
        date(2026, 1, 1),
        date(2026, 12, 31),
    )


async def test_list_fiscal_years_orders_by_start(pool: Pool, tenant: Tenant) -> None:
    """Fiscal years come back oldest first, whatever the order they were recorded in."""
    client_id = await _client(pool, tenant)
    await folders.create_fiscal_year(
        pool, client_id=client_id, starts_on=date(2027, 7, 1), ends_on=date(2028, 6, 30)
    )
    await folders.create_fiscal_year(
        pool, client_id=client_id, starts_on=date(2026, 1, 1), ends_on=date(2027, 6, 30)
    )
    rows = await folders.list_fiscal_years(pool, client_id=client_id)
    assert [r.starts_on for r in rows] == [date(2026, 1, 1), date(2027, 7, 1)]


async def test_insert_folders_replay_inserts_nothing_and_keeps_rows(
    pool: Pool, tenant: Tenant
) -> None:
    """A second insert of the same plan returns 0 and leaves every row (ids included) unchanged."""
    client_id = await _client(pool, tenant)
    assert await folders.insert_folders(pool, client_id=client_id, folders=TREE) == len(TREE)
    before = await folders.list_folders(pool, client_id=client_id)
    assert await folders.insert_folders(pool, client_id=client_id, folders=TREE) == 0
    assert await folders.list_folders(pool, client_id=client_id) == before
    assert await folders.count_folders(pool, client_id=client_id) == len(TREE)


async def test_insert_folders_ids_derive_from_client_and_path(pool: Pool, tenant: Tenant) -> None:
    """Each id is uuid5(client, path): the same path gets a different id for another client."""
    first_client = await _client(pool, tenant)
    second_client = await _client(pool, tenant)
    for client_id in (first_client, second_client):
        await folders.insert_folders(pool, client_id=client_id, folders=TREE)
    first = await folders.list_folders(pool, client_id=first_client)
    second = await folders.list_folders(pool, client_id=second_client)
    assert [r.id for r in first] == [uuid.uuid5(first_client, r.path) for r in first]
    assert {r.id for r in first}.isdisjoint(r.id for r in second)


async def test_insert_folders_stores_every_planned_field(pool: Pool, tenant: Tenant) -> None:
    """Client, path, parent, name, kind and position are stored as planned."""
    client_id = await _client(pool, tenant)
    await folders.insert_folders(pool, client_id=client_id, folders=TREE)
    rows = await folders.list_folders(pool, client_id=client_id)
    assert {r.client_id for r in rows} == {client_id}
    stored = {(r.path, r.parent_path, r.name, r.kind, r.position) for r in rows}
    assert stored == {(f.path, f.parent_path, f.name, f.kind, f.position) for f in TREE}


async def test_insert_folders_child_without_parent_is_refused(pool: Pool, tenant: Tenant) -> None:
    """A batch whose folder's parent exists nowhere fails: batches must go parents first."""
    client_id = await _client(pool, tenant)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await folders.insert_folders(pool, client_id=client_id, folders=TREE[1:2])
    assert await folders.count_folders(pool, client_id=client_id) == 0


async def test_insert_folders_children_first_within_one_batch_is_accepted(
    pool: Pool, tenant: Tenant
) -> None:
    """Within one call the parent may come after its child: the key is checked per statement."""
    client_id = await _client(pool, tenant)
    inserted = await folders.insert_folders(pool, client_id=client_id, folders=TREE[::-1])
    assert inserted == len(TREE)


async def test_list_folders_orders_by_path_code_points(pool: Pool, tenant: Tenant) -> None:
    """Paths sort by code point: parent before children, "A B" before "A/x", "B" before "a"."""
    client_id = await _client(pool, tenant)
    planned = [_folder("a"), _folder("A"), _folder("A/x"), _folder("A B"), _folder("B")]
    await folders.insert_folders(pool, client_id=client_id, folders=planned)
    rows = await folders.list_folders(pool, client_id=client_id)
    assert [r.path for r in rows] == ["A", "A B", "A/x", "B", "a"]


async def test_count_folders_counts_only_this_client(pool: Pool, tenant: Tenant) -> None:
    """Another client's folders are not counted."""
    client_id = await _client(pool, tenant)
    other_id = await _client(pool, tenant)
    await folders.insert_folders(pool, client_id=client_id, folders=TREE)
    await folders.insert_folders(pool, client_id=other_id, folders=TREE[:1])
    assert await folders.count_folders(pool, client_id=client_id) == len(TREE)
    assert await folders.count_folders(pool, client_id=other_id) == 1
