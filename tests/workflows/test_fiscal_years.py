"""FiscalYearWorkflow on the Temporal dev server, with the real folder activity on real
PostgreSQL: a second fiscal year gets its month folders once, however often it is asked for and
whatever happens to the worker in the middle."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.worker import Worker

from activities.folders import FOLDER_BATCH
from core import workflow_starts
from domain.fiscal_calendar import FiscalYear
from domain.fiscal_years import FiscalYearInput, FoldersState, workflow_id_for
from store import catalogs, clients, folders
from store.pool import Pool
from tests.factories import Tenant
from tests.workflow_helpers import FRENCH_2026, fiscal_year_worker, onboarded_client
from workflows.fiscal_years import FiscalYearWorkflow

# 40 per-fiscal-year folders: 520 folders a year, three batches, 480 of them month folders.
WIDE: list[dict[str, Any]] = [
    {"name": f"Dossier {index:02d}", "per_fiscal_year": True} for index in range(40)
]
SECOND = FiscalYear(start=date(2026, 1, 1), end=date(2026, 12, 31))


async def _request(
    pool: Pool, tenant: Tenant, client_id: uuid.UUID, year: FiscalYear = SECOND
) -> FiscalYearInput:
    """What the API records and starts for a later year."""
    await folders.add_fiscal_year(
        pool,
        client_id=client_id,
        starts_on=year.start,
        ends_on=year.end,
        workflow_id=workflow_id_for(client_id, year.start),
        requested_by=None,
    )
    client = await clients.get(pool, client_id=client_id)
    assert client is not None and client.setup is not None
    return FiscalYearInput(
        client_id=client_id,
        partner_id=tenant.partner.id,
        folder_tree=client.setup["folder_tree"],
        fiscal_year=year,
        language=client.language,
    )


async def start_year(client: Client, data: FiscalYearInput, task_queue: str) -> None:
    """Start the year's workflow as the API does (core/workflow_starts.py)."""
    await workflow_starts.start(client, workflow_starts.fiscal_year(data), task_queue=task_queue)


async def _month_folders(pool: Pool, client_id: uuid.UUID, prefix: str) -> dict[str, list[str]]:
    """Month folders whose name starts with `prefix` ("2026-"), by parent path."""
    by_parent: dict[str, list[str]] = {}
    for row in await folders.list_folders(pool, client_id=client_id):
        if row.kind == "month" and row.name.startswith(prefix):
            by_parent.setdefault(str(row.parent_path), []).append(row.name)
    return by_parent


async def _state(pool: Pool, client_id: uuid.UUID, start: date) -> str | None:
    [row] = [
        y
        for y in await folders.list_fiscal_year_states(pool, client_id=client_id)
        if y.starts_on == start
    ]
    return row.folders_state


class FlakyPool:
    """The real pool, until a folder insert meets `fault`: PostgreSQL lost mid-way, or a worker
    hanging there until it is stopped. Everything else goes straight through."""

    def __init__(self, pool: Pool, *, after_batches: int, fault: Callable[[], Any]) -> None:
        self._pool = pool
        self._after = after_batches
        self._fault = fault
        self.batches = 0
        self.faulted = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    async def execute(self, query: str, *args: Any) -> str:
        if "INSERT INTO folders" in query and not self.faulted and self.batches == self._after:
            self.faulted = True
            await self._fault()
        result: str = await self._pool.execute(query, *args)
        if "INSERT INTO folders" in query:
            self.batches += 1
        return result


async def test_second_fiscal_year_adds_exactly_twelve_month_folders(
    pool: Pool, tenant: Tenant, client: Client, worker: Worker
) -> None:
    """Through the worker as `onboarding worker` builds it: the year's 12 month folders under the
    per-year folder, in the client's language, nothing else new, and the year marked done."""
    client_id = await onboarded_client(pool, tenant)
    before = await folders.list_folders(pool, client_id=client_id)
    data = await _request(pool, tenant, client_id)
    await start_year(client, data, worker.task_queue)
    handle = client.get_workflow_handle_for(
        FiscalYearWorkflow.run, workflow_id_for(client_id, SECOND.start)
    )
    view = await handle.result()

    after = await folders.list_folders(pool, client_id=client_id)
    new = [r for r in after if r not in before]
    assert [r.name for r in new] == FRENCH_2026
    assert {r.parent_path for r in new} == {"Comptabilité/Achats"}
    assert await _month_folders(pool, client_id, "2025-") == {
        "Comptabilité/Achats": [n.replace("2026", "2025") for n in FRENCH_2026]
    }
    assert (view.state, view.folders_planned, view.folders_created) == (FoldersState.done, 16, 12)
    assert await _state(pool, client_id, SECOND.start) == "done"
    assert (await handle.query(FiscalYearWorkflow.status)).state == FoldersState.done


async def test_same_request_twice_runs_once_and_again_after_done_starts_nothing(
    pool: Pool, tenant: Tenant, client: Client, settings: Any
) -> None:
    """Two starts while it runs share one run; a third once it completed starts none; the
    month folders are there once."""
    client_id = await onboarded_client(pool, tenant)
    data = await _request(pool, tenant, client_id)
    queue = settings.task_queue
    await start_year(client, data, queue)
    await start_year(client, data, queue)  # no worker yet
    handle = client.get_workflow_handle(workflow_id_for(client_id, SECOND.start))
    first_run = (await handle.describe()).run_id
    async with fiscal_year_worker(client, pool, queue):
        await handle.result()
        await start_year(client, data, queue)
    # The latest run of the id is still the first: nothing started after it.
    latest = await handle.describe()
    assert (latest.run_id, latest.status) == (first_run, WorkflowExecutionStatus.COMPLETED)
    assert await _month_folders(pool, client_id, "2026-") == {"Comptabilité/Achats": FRENCH_2026}


async def test_database_lost_after_some_folders_retry_creates_the_rest_once(
    pool: Pool, tenant: Tenant, client: Client, settings: Any
) -> None:
    """The connection drops after the first batch of 200: the retried activity finishes the
    tree, and each per-year folder ends with exactly its 12 month folders."""
    client_id = await onboarded_client(pool, tenant, tree=WIDE)

    async def connection_lost() -> None:
        raise ConnectionResetError("connection reset by peer")

    flaky = FlakyPool(pool, after_batches=1, fault=connection_lost)
    data = await _request(pool, tenant, client_id)
    async with fiscal_year_worker(client, pool, settings.task_queue, folder_pool=flaky):
        await start_year(client, data, settings.task_queue)
        view = await client.get_workflow_handle_for(
            FiscalYearWorkflow.run, workflow_id_for(client_id, SECOND.start)
        ).result()
    assert flaky.faulted and view.attempts == 2
    months = await _month_folders(pool, client_id, "2026-")
    assert len(months) == 40 and all(names == FRENCH_2026 for names in months.values())
    assert await folders.count_folders(pool, client_id=client_id) == 40 + 2 * 40 * 12
    assert await _state(pool, client_id, SECOND.start) == "done"


async def test_worker_stopped_mid_tree_another_worker_finishes_it_once(
    pool: Pool, tenant: Tenant, client: Client, settings: Any
) -> None:
    """A worker stops while its folder activity hangs after a batch; a new worker takes the
    retry, and the folders are there once."""
    client_id = await onboarded_client(pool, tenant, tree=WIDE)
    hanging = asyncio.Event()

    async def hang() -> None:
        hanging.set()
        await asyncio.Event().wait()  # until the worker stops and cancels it

    flaky = FlakyPool(pool, after_batches=1, fault=hang)
    data = await _request(pool, tenant, client_id)
    handle = client.get_workflow_handle_for(
        FiscalYearWorkflow.run, workflow_id_for(client_id, SECOND.start)
    )
    async with fiscal_year_worker(client, pool, settings.task_queue, folder_pool=flaky):
        await start_year(client, data, settings.task_queue)
        await asyncio.wait_for(hanging.wait(), 10)
        assert await _state(pool, client_id, SECOND.start) == "creating"
        assert 0 < await folders.count_folders(pool, client_id=client_id) < 40 + 2 * 40 * 12
    async with fiscal_year_worker(client, pool, settings.task_queue):
        view = await asyncio.wait_for(handle.result(), 20)
    assert view.attempts >= 2
    months = await _month_folders(pool, client_id, "2026-")
    assert len(months) == 40 and all(names == FRENCH_2026 for names in months.values())
    assert await folders.count_folders(pool, client_id=client_id) == 40 + 2 * 40 * 12
    assert FOLDER_BATCH < 40 * 13  # the tree took more than one batch, so "mid-tree" held


async def test_missing_tree_fails_the_run_and_the_year_says_why(
    pool: Pool, tenant: Tenant, client: Client, settings: Any
) -> None:
    """A tree deleted from the catalog since: no retry fixes it, so the run fails and the year
    says why (the error's type); the same request runs again once the tree is back."""
    client_id = await onboarded_client(pool, tenant)
    data = await _request(pool, tenant, client_id)
    code = data.folder_tree
    assert code is not None
    body = await catalogs.get(pool, "folder_trees", partner_id=tenant.partner.id, code=code)
    assert body is not None
    assert await catalogs.delete(pool, "folder_trees", partner_id=tenant.partner.id, code=code)
    handle = client.get_workflow_handle_for(
        FiscalYearWorkflow.run, workflow_id_for(client_id, SECOND.start)
    )
    async with fiscal_year_worker(client, pool, settings.task_queue):
        await start_year(client, data, settings.task_queue)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        [year] = [
            y
            for y in await folders.list_fiscal_year_states(pool, client_id=client_id)
            if y.starts_on == SECOND.start
        ]
        assert (year.folders_state, year.folders_failure) == ("failed", "FolderTreeMissing")

        assert await catalogs.create(
            pool, "folder_trees", partner_id=tenant.partner.id, code=code, body=body
        )
        await start_year(client, data, settings.task_queue)
        view = await client.get_workflow_handle_for(
            FiscalYearWorkflow.run, workflow_id_for(client_id, SECOND.start)
        ).result()
    assert view.state == FoldersState.done
    assert await _state(pool, client_id, SECOND.start) == "done"
    assert await _month_folders(pool, client_id, "2026-") == {"Comptabilité/Achats": FRENCH_2026}
