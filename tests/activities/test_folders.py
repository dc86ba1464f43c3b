"""FolderActivities.create_folders against real PostgreSQL: months, replays, heartbeats, resume."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.folders import FOLDER_BATCH, CreateFoldersInput, FolderActivities
from store import catalogs, folders
from store.pool import Pool
from tests.factories import Tenant, make_client, make_tenant
from tests.workflow_helpers import FRENCH_2026

# One per-fiscal-year folder ("Comptabilité/Achats") among plain ones.
GED_FOLDERS: list[dict[str, Any]] = [
    {
        "name": "Comptabilité",
        "children": [{"name": "Achats", "per_fiscal_year": True}, {"name": "Ventes"}],
    },
    {"name": "Juridique"},
]

# 240 per-fiscal-year folders of 13 folders each (itself and 12 months): 3,120 folders.
LARGE_FOLDERS: list[dict[str, Any]] = [
    {"name": f"Dossier {index:03d}", "per_fiscal_year": True} for index in range(240)
]
LARGE_TOTAL = 240 * 13


class _WorkerCrash(Exception):
    """Stands for a worker dying between two batches."""


async def _client(pool: Pool, tenant: Tenant, *, language: str = "fr") -> uuid.UUID:
    return (await make_client(pool, tenant, language=language))[1]


async def _tree(pool: Pool, tenant: Tenant, code: str, tree: list[dict[str, Any]]) -> str:
    body = {"code": code, "name": code.upper(), "folders": tree}
    assert await catalogs.create(
        pool, "folder_trees", partner_id=tenant.partner.id, code=code, body=body
    )
    return code


def _input(
    tenant: Tenant,
    client_id: uuid.UUID,
    *,
    tree: str | None = "ged",
    start: date = date(2026, 1, 1),
    end: date = date(2026, 12, 31),
    language: str = "fr",
) -> CreateFoldersInput:
    return CreateFoldersInput(
        client_id=client_id,
        partner_id=tenant.partner.id,
        folder_tree=tree,
        fiscal_year_start=start,
        fiscal_year_end=end,
        language=language,
    )


def _recording_env(beats: list[tuple[Any, ...]]) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    return env


async def test_create_folders_calendar_year_gives_twelve_month_folders(
    pool: Pool, tenant: Tenant
) -> None:
    """2026-01-01..2026-12-31 gives the per-year folder 12 months, in the client's language."""
    client_id = await _client(pool, tenant)
    await _tree(pool, tenant, "ged", GED_FOLDERS)
    result = await ActivityEnvironment().run(
        FolderActivities(pool).create_folders, _input(tenant, client_id)
    )
    rows = await folders.list_folders(pool, client_id=client_id)
    month_rows = [r for r in rows if r.kind == "month"]
    assert [r.name for r in month_rows] == FRENCH_2026
    assert {r.parent_path for r in month_rows} == {"Comptabilité/Achats"}
    assert [r.path for r in rows if r.kind == "template"] == [
        "Comptabilité",
        "Comptabilité/Achats",
        "Comptabilité/Ventes",
        "Juridique",
    ]
    assert (result.months, result.folders_planned, result.folders_created) == (12, 16, 16)
    [year] = await folders.list_fiscal_years(pool, client_id=client_id)
    assert (year.starts_on, year.ends_on) == (date(2026, 1, 1), date(2026, 12, 31))


async def test_create_folders_irregular_year_gives_eighteen_month_folders(
    pool: Pool, tenant: Tenant
) -> None:
    """An 18-month first year (2026-01-01..2027-06-30) gives 18 months, 2026-01 to 2027-06."""
    client_id = await _client(pool, tenant, language="nl")
    await _tree(pool, tenant, "ged", GED_FOLDERS)
    result = await ActivityEnvironment().run(
        FolderActivities(pool).create_folders,
        _input(tenant, client_id, end=date(2027, 6, 30), language="nl"),
    )
    rows = await folders.list_folders(pool, client_id=client_id)
    names = [r.name for r in rows if r.kind == "month"]
    assert len(names) == 18
    assert (names[0], names[-1]) == ("2026-01 Januari", "2027-06 Juni")
    assert result.months == 18


async def test_create_folders_twice_creates_each_folder_once(pool: Pool, tenant: Tenant) -> None:
    """A replay finds every row in place: same rows, one fiscal year, nothing new created."""
    client_id = await _client(pool, tenant)
    await _tree(pool, tenant, "ged", GED_FOLDERS)
    acts = FolderActivities(pool)
    env = ActivityEnvironment()
    first = await env.run(acts.create_folders, _input(tenant, client_id))
    rows_first = await folders.list_folders(pool, client_id=client_id)
    second = await env.run(acts.create_folders, _input(tenant, client_id))
    rows_second = await folders.list_folders(pool, client_id=client_id)
    assert rows_second == rows_first
    assert len(rows_first) == first.folders_planned == 16
    assert (first.folders_created, second.folders_created) == (16, 0)
    assert second.folders_planned == first.folders_planned
    assert len(await folders.list_fiscal_years(pool, client_id=client_id)) == 1


async def test_create_folders_small_tree_heartbeats_its_progress(
    pool: Pool, tenant: Tenant
) -> None:
    """A tree of one batch sends one heartbeat whose progress is every folder."""
    client_id = await _client(pool, tenant)
    await _tree(pool, tenant, "ged", GED_FOLDERS)
    beats: list[tuple[Any, ...]] = []
    await _recording_env(beats).run(
        FolderActivities(pool).create_folders, _input(tenant, client_id)
    )
    assert [beat[0] for beat in beats] == [16]


async def test_create_folders_large_tree_heartbeats_every_batch(pool: Pool, tenant: Tenant) -> None:
    """3,120 folders go in by batches, each followed by a heartbeat with the count done so far."""
    client_id = await _client(pool, tenant)
    await _tree(pool, tenant, "big", LARGE_FOLDERS)
    beats: list[tuple[Any, ...]] = []
    result = await _recording_env(beats).run(
        FolderActivities(pool).create_folders, _input(tenant, client_id, tree="big")
    )
    expected = [*range(FOLDER_BATCH, LARGE_TOTAL, FOLDER_BATCH), LARGE_TOTAL]
    assert [beat[0] for beat in beats] == expected
    assert len(beats) > 1
    assert result.folders_created == LARGE_TOTAL
    assert await folders.count_folders(pool, client_id=client_id) == LARGE_TOTAL


async def test_create_folders_resumed_attempt_skips_done_batches(
    pool: Pool, tenant: Tenant
) -> None:
    """After a crash, the retry resumes from the last heartbeat and still creates every folder."""
    client_id = await _client(pool, tenant)
    await _tree(pool, tenant, "big", LARGE_FOLDERS)
    acts = FolderActivities(pool)
    crashed: list[tuple[Any, ...]] = []

    def crash_on_second_heartbeat(*details: Any) -> None:
        crashed.append(details)
        if len(crashed) == 2:
            raise _WorkerCrash

    env = ActivityEnvironment()
    env.on_heartbeat = crash_on_second_heartbeat
    with pytest.raises(_WorkerCrash):
        await env.run(acts.create_folders, _input(tenant, client_id, tree="big"))
    assert await folders.count_folders(pool, client_id=client_id) == 2 * FOLDER_BATCH

    resumed: list[tuple[Any, ...]] = []
    retry = _recording_env(resumed)
    retry.info = dataclasses.replace(retry.info, attempt=2, heartbeat_details=list(crashed[-1]))
    result = await retry.run(acts.create_folders, _input(tenant, client_id, tree="big"))

    # The first heartbeat of the retry already counts the two batches of the crashed attempt.
    assert resumed[0][0] == 3 * FOLDER_BATCH
    assert resumed[-1][0] == LARGE_TOTAL
    assert len(resumed) == len(range(2 * FOLDER_BATCH, LARGE_TOTAL, FOLDER_BATCH))
    assert (result.attempt, result.folders_planned) == (2, LARGE_TOTAL)
    assert result.folders_created == LARGE_TOTAL - 2 * FOLDER_BATCH
    assert await folders.count_folders(pool, client_id=client_id) == LARGE_TOTAL


async def test_create_folders_heartbeat_of_another_plan_starts_over(
    pool: Pool, tenant: Tenant
) -> None:
    """Progress recorded for a different plan (template edited since) is ignored, not trusted."""
    client_id = await _client(pool, tenant)
    await _tree(pool, tenant, "big", LARGE_FOLDERS)
    beats: list[tuple[Any, ...]] = []
    env = _recording_env(beats)
    env.info = dataclasses.replace(
        env.info, attempt=2, heartbeat_details=[2 * FOLDER_BATCH, "fingerprint-of-another-plan"]
    )
    result = await env.run(
        FolderActivities(pool).create_folders, _input(tenant, client_id, tree="big")
    )
    assert beats[0][0] == FOLDER_BATCH
    assert result.folders_created == LARGE_TOTAL
    assert await folders.count_folders(pool, client_id=client_id) == LARGE_TOTAL


async def test_create_folders_without_tree_records_fiscal_year_only(
    pool: Pool, tenant: Tenant
) -> None:
    """No folder tree: the fiscal year is recorded and no folder is created."""
    client_id = await _client(pool, tenant)
    result = await ActivityEnvironment().run(
        FolderActivities(pool).create_folders, _input(tenant, client_id, tree=None)
    )
    assert (result.folders_planned, result.folders_created, result.months) == (0, 0, 12)
    assert await folders.count_folders(pool, client_id=client_id) == 0
    assert len(await folders.list_fiscal_years(pool, client_id=client_id)) == 1


async def test_create_folders_unknown_tree_is_non_retryable(pool: Pool, tenant: Tenant) -> None:
    """A tree code missing from the partner's catalog fails for good and records nothing."""
    client_id = await _client(pool, tenant)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            FolderActivities(pool).create_folders, _input(tenant, client_id, tree="nope")
        )
    assert (caught.value.type, caught.value.non_retryable) == ("FolderTreeMissing", True)
    assert await folders.list_fiscal_years(pool, client_id=client_id) == []


async def test_create_folders_other_partners_tree_is_missing(pool: Pool, tenant: Tenant) -> None:
    """A tree of the same code in another partner's catalog is not this partner's tree."""
    client_id = await _client(pool, tenant)
    await _tree(pool, await make_tenant(pool, "Other firm"), "ged", GED_FOLDERS)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            FolderActivities(pool).create_folders, _input(tenant, client_id)
        )
    assert (caught.value.type, caught.value.non_retryable) == ("FolderTreeMissing", True)


async def test_create_folders_invalid_fiscal_year_is_non_retryable(
    pool: Pool, tenant: Tenant
) -> None:
    """A fiscal year of more than 24 months fails for good, before anything is written."""
    client_id = await _client(pool, tenant)
    await _tree(pool, tenant, "ged", GED_FOLDERS)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            FolderActivities(pool).create_folders,
            _input(tenant, client_id, end=date(2028, 1, 31)),
        )
    assert (caught.value.type, caught.value.non_retryable) == ("InvalidFiscalYear", True)
    assert await folders.list_fiscal_years(pool, client_id=client_id) == []
    assert await folders.count_folders(pool, client_id=client_id) == 0


async def test_create_folders_unknown_client_is_non_retryable(pool: Pool, tenant: Tenant) -> None:
    """A client id with no client row fails for good instead of retrying a foreign-key error."""
    await _tree(pool, tenant, "ged", GED_FOLDERS)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            FolderActivities(pool).create_folders, _input(tenant, uuid.uuid4())
        )
    assert (caught.value.type, caught.value.non_retryable) == ("ClientMissing", True)
