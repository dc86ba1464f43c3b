"""POST/GET /v1/clients/{id}/fiscal-years: the next fiscal year of a client, its validation, who
may add one, and where its folders stand (real PostgreSQL, Temporal and worker)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from core.settings import Settings
from domain.fiscal_years import workflow_id_for
from store import folders
from store.pool import Pool
from tests.eventually import eventually
from tests.factories import Tenant, make_tenant
from tests.workflow_helpers import FRENCH_2026, fiscal_year_worker, onboarded_client

NEXT = {"start": "2026-01-01"}


async def _until_done(api: httpx.AsyncClient, url: str) -> dict[str, Any]:

    async def year() -> dict[str, Any]:
        answer: dict[str, Any] = (await api.get(url)).json()
        return answer

    return await eventually(
        year,
        until=lambda y: y["folders"]["state"] != "creating",
        what="the year's folders no longer creating",
        within=10,
        every=0.1,
    )


def _field(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


async def _headers_of(api: httpx.AsyncClient, role: str) -> dict[str, str]:
    user = await api.post(
        "/v1/users",
        json={"email": f"{role}-{uuid.uuid4().hex[:6]}@ex.com", "name": "U", "role": role},
    )
    key = await api.post(f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"})
    return {"Authorization": f"Bearer {key.json()['key']}"}


async def test_post_answers_202_list_shows_progress_then_done(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, client: Client, settings: Settings
) -> None:
    """202 with the year (end defaulted) and its status URL; with no worker yet the list says
    creating with the shared folders only, then a worker makes the 12 months and it says done."""
    client_id = await onboarded_client(pool, tenant)
    accepted = await api.post(f"/v1/clients/{client_id}/fiscal-years", json=NEXT)
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    url = f"/v1/clients/{client_id}/fiscal-years/2026-01-01"
    assert (body["start"], body["end"], body["months"]) == ("2026-01-01", "2026-12-31", 12)
    assert (body["status_url"], accepted.headers["Location"]) == (url, url)
    assert body["source"] == "added"
    assert body["folders"] == {"state": "creating", "planned": 16, "created": 4, "failure": None}

    listed = (await api.get(f"/v1/clients/{client_id}/fiscal-years")).json()
    assert [(y["start"], y["source"], y["folders"]["state"]) for y in listed] == [
        ("2025-01-01", "onboarding", "done"),
        ("2026-01-01", "added", "creating"),
    ]
    assert listed[0]["folders"]["created"] == listed[0]["folders"]["planned"] == 16

    async with fiscal_year_worker(client, pool, settings.task_queue):
        done = await _until_done(api, url)
    assert done["folders"] == {"state": "done", "planned": 16, "created": 16, "failure": None}
    names = [
        r.name
        for r in await folders.list_folders(pool, client_id=client_id)
        if r.kind == "month" and r.name.startswith("2026-")
    ]
    assert names == FRENCH_2026
    detail = (await api.get(f"/v1/clients/{client_id}")).json()
    assert [y["start"] for y in detail["fiscal_years"]] == ["2025-01-01", "2026-01-01"]


async def test_same_post_twice_is_one_year_and_one_run(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, client: Client, settings: Settings
) -> None:
    """The same request again, before and after the folders are made, returns the same year
    (Idempotent-Replayed) and starts no second run; the months exist once."""
    client_id = await onboarded_client(pool, tenant)
    path = f"/v1/clients/{client_id}/fiscal-years"
    first = await api.post(path, json=NEXT)
    again = await api.post(path, json={"start": "2026-01-01", "end": "2026-12-31"})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["start"] == first.json()["start"]
    handle = client.get_workflow_handle(workflow_id_for(client_id, datetime(2026, 1, 1).date()))
    run_id = (await handle.describe()).run_id
    async with fiscal_year_worker(client, pool, settings.task_queue):
        await _until_done(api, first.json()["status_url"])
        third = await api.post(path, json=NEXT)
    assert third.status_code == 202 and third.json()["folders"]["state"] == "done"
    assert (await handle.describe()).run_id == run_id
    assert len((await api.get(path)).json()) == 2
    assert await folders.count_folders(pool, client_id=client_id) == 4 + 2 * 12


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"start": "2026-02-01"}, "start", "gap"),
        ({"start": "2025-06-01"}, "start", "overlaps"),
        ({"start": "2024-06-01", "end": "2025-05-31"}, "end", "overlaps"),
        ({"start": "2023-01-01", "end": "2023-12-31"}, "start", "later fiscal years only"),
        ({"start": "2026-01-01", "end": "2025-12-31"}, "end", "after start"),
        ({"start": "2026-01-01", "end": "2026-01-01"}, "end", "after start"),
        ({"start": "2026-01-01", "end": "2028-06-30"}, "end", "at most 24 months"),
        ({"start": "2026-01-01", "end": "2026-01-20"}, "end", "at least 1 month"),
        ({"start": "1989-01-01"}, "start", "between 1990"),
        ({"start": f"{datetime.now(UTC).year + 2}-01-01", "after_gap": True}, "start", "between"),
        ({"start": "2026-01-01", "color": "red"}, "color", "Extra inputs"),
        ({"end": "2026-12-31"}, "start", "required"),
    ],
)
async def test_invalid_years_are_refused_naming_the_field(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, body: dict[str, Any], field: str, says: str
) -> None:
    """A gap, an overlap, an earlier year, an end before the start, a length outside 1..24
    months, a start outside 1990..next year: a 422 problem naming the field; nothing recorded."""
    client_id = await onboarded_client(pool, tenant)
    response = await api.post(f"/v1/clients/{client_id}/fiscal-years", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert _field(response) == [field]
    assert says in response.text
    assert len(await folders.list_fiscal_year_states(pool, client_id=client_id)) == 1


async def test_gap_allowed_when_stated_and_a_different_end_for_an_existing_start_is_409(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """after_gap lets a year start later; the same start with another end is a conflict naming
    `end`; an irregular 18-month year is accepted."""
    client_id = await onboarded_client(pool, tenant)
    path = f"/v1/clients/{client_id}/fiscal-years"
    later = await api.post(
        path, json={"start": "2026-07-01", "end": "2027-12-31", "after_gap": True}
    )
    assert later.status_code == 202, later.text
    assert later.json()["months"] == 18
    clash = await api.post(path, json={"start": "2026-07-01"})
    assert clash.status_code == 409 and _field(clash) == ["end"]
    assert clash.json()["type"].endswith("/fiscal-year-exists")


async def test_before_setup_complete_is_409(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """While the onboarding still sets the client up, no year can be added; the list reads."""
    client_id = await onboarded_client(pool, tenant, ready=False)
    response = await api.post(f"/v1/clients/{client_id}/fiscal-years", json=NEXT)
    assert response.status_code == 409
    assert response.json()["type"].endswith("/client-setting-up")
    [year] = (await api.get(f"/v1/clients/{client_id}/fiscal-years")).json()
    assert year["folders"]["state"] == "creating" and year["source"] == "onboarding"


async def test_roles_accountant_reads_but_cannot_add(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Administrators and client managers add years; an accountant gets 403 but reads them."""
    client_id = await onboarded_client(pool, tenant)
    path = f"/v1/clients/{client_id}/fiscal-years"
    accountant = await _headers_of(api, "accountant")
    manager = await _headers_of(api, "client_manager")
    refused = await api.post(path, json=NEXT, headers=accountant)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/forbidden")
    assert (await api.get(path, headers=accountant)).status_code == 200
    assert (await api.post(path, json=NEXT, headers=manager)).status_code == 202


async def test_other_partner_gets_404_and_adds_nothing(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Partner B can neither read nor add fiscal years of partner A's client."""
    client_id = await onboarded_client(pool, tenant)
    other = await make_tenant(pool, "Other firm")
    path = f"/v1/clients/{client_id}/fiscal-years"
    for response in (
        await api.get(path, headers=other.auth),
        await api.get(f"{path}/2025-01-01", headers=other.auth),
        await api.post(path, json=NEXT, headers=other.auth),
    ):
        assert response.status_code == 404, response.text
        assert str(tenant.partner.id) not in response.text
    assert len(await folders.list_fiscal_year_states(pool, client_id=client_id)) == 1
    missing = await api.get(f"{path}/2030-01-01")
    assert missing.status_code == 404


async def test_concurrent_requests_for_one_start_make_one_year(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """The same year asked twice at once: both 202, one row; two different ends for one start
    at once: one is recorded, the other is a 409 naming `end`."""
    client_id = await onboarded_client(pool, tenant)
    path = f"/v1/clients/{client_id}/fiscal-years"
    same = await asyncio.gather(api.post(path, json=NEXT), api.post(path, json=NEXT))
    assert [r.status_code for r in same] == [202, 202]
    other = await onboarded_client(pool, tenant)
    path = f"/v1/clients/{other}/fiscal-years"
    ends = await asyncio.gather(
        api.post(path, json={"start": "2026-01-01", "end": "2026-12-31"}),
        api.post(path, json={"start": "2026-01-01", "end": "2027-06-30"}),
    )
    assert sorted(r.status_code for r in ends) == [202, 409]
    [refused] = [r for r in ends if r.status_code == 409]
    assert _field(refused) == ["end"]
    for client in (client_id, other):
        assert len(await folders.list_fiscal_year_states(pool, client_id=client)) == 2
