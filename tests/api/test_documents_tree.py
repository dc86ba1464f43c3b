"""/v1/clients/{id}/folders over the real stack: a client's folders by fiscal year, newest
first and paged, each year with its shared folders and its month folders counted against those
expected (the onboarding's folder activity and the fiscal-year workflow made them)."""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.client import Client

from core.settings import Settings
from store.pool import Pool
from tests.eventually import eventually
from tests.factories import Tenant, make_client, make_tenant
from tests.workflow_helpers import FRENCH_2026, fiscal_year_worker, onboarded_client


async def test_read_folders_by_fiscal_year_shows_the_twelve_months(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, client: Client, settings: Settings
) -> None:
    """Two fiscal years, newest first: each lists the shared folders and its own twelve month
    folders (not the other year's); one per page with the total, the next page the older."""
    client_id = await onboarded_client(pool, tenant)
    added = await api.post(f"/v1/clients/{client_id}/fiscal-years", json={"start": "2026-01-01"})
    assert added.status_code == 202, added.text
    url = f"/v1/clients/{client_id}/folders"
    async with fiscal_year_worker(client, pool, settings.task_queue):

        async def newest() -> dict[str, Any]:
            item: dict[str, Any] = (await api.get(url)).json()["items"][0]
            return item

        # Its twelve folders exist a moment before the workflow marks the year done: wait for
        # both (a loaded run saw 'creating' with the folders there).
        await eventually(
            newest,
            what="the newest year's folders complete and the year done",
            until=lambda y: y["complete"] and y["folders_state"] == "done",
        )
    first = (await api.get(url, params={"limit": 1})).json()
    assert (first["total"], first["limit"], first["offset"]) == (2, 1, 0)
    year = first["items"][0]
    assert (year["start"], year["end"], year["folders_state"]) == (
        "2026-01-01",
        "2026-12-31",
        "done",
    )
    assert (year["months"], year["expected_month_folders"], year["month_folders"]) == (12, 12, 12)
    months = [f["name"] for f in year["folders"] if f["kind"] == "month"]
    assert months == FRENCH_2026
    shared = [f for f in year["folders"] if f["kind"] == "template"]
    assert len(shared) == 4
    older = (await api.get(url, params={"limit": 1, "offset": 1})).json()["items"][0]
    assert older["start"] == "2025-01-01" and older["complete"] is True
    assert all(f["name"].startswith("2025-") for f in older["folders"] if f["kind"] == "month")


async def test_read_folders_says_incomplete_while_months_are_missing(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """A year whose month folders are not made yet counts 0 of 12: complete is false."""
    client_id = await onboarded_client(pool, tenant)
    await api.post(f"/v1/clients/{client_id}/fiscal-years", json={"start": "2026-01-01"})
    year = (await api.get(f"/v1/clients/{client_id}/folders")).json()["items"][0]
    assert (year["folders_state"], year["month_folders"], year["complete"]) == (
        "creating",
        0,
        False,
    )
    assert year["expected_month_folders"] == 12


async def test_read_folders_of_a_client_without_years_or_of_another_firm(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """No fiscal year yet: an empty page; another firm's client: 404; a limit over 20: 422."""
    _, client_id = await make_client(pool, tenant)
    empty = (await api.get(f"/v1/clients/{client_id}/folders")).json()
    assert (empty["items"], empty["total"]) == ([], 0)
    other = await make_tenant(pool, "Autre cabinet")
    url = f"/v1/clients/{client_id}/folders"
    assert (await api.get(url, headers=other.auth)).status_code == 404
    assert (await api.get(url, params={"limit": 21})).status_code == 422
