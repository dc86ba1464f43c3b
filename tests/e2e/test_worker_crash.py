"""A worker killed (SIGKILL) in the middle of the folder step, then started again: the onboarding
completes, the folder activity resumes after its heartbeat timeout, and no folder exists twice.

The worker runs as `onboarding worker` in a child process of its own, so the kill is a real crash:
no shutdown, no last heartbeat, a database statement perhaps cut off half-way.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from core.settings import Settings
from domain.fiscal_calendar import FiscalYear
from domain.folders import FolderTreeTemplate, plan_folders
from store.pool import Pool
from tests.e2e.processes import WorkerProcesses
from tests.eventually import eventually

pytestmark = pytest.mark.e2e

FISCAL_YEAR = FiscalYear(start=date(2026, 1, 1), end=date(2027, 12, 31))  # 24 month folders
LANGUAGE = "fr"
# Big enough that creating the folders takes seconds, not milliseconds (ten thousand folders go in
# in well under a second): every top-level folder and every child gets 24 month folders, so the
# plan is TOP_LEVEL * (1 + CHILDREN) * 25 = 50,000 folders, inserted by batches of 200.
TOP_LEVEL = 100
CHILDREN = 19
TREE: dict[str, Any] = {
    "code": "big",
    "name": "Very large tree",
    "folders": [
        {
            "name": f"Dossier {i:03d}",
            "per_fiscal_year": True,
            "children": [
                {"name": f"Sous-dossier {j}", "per_fiscal_year": True} for j in range(CHILDREN)
            ],
        }
        for i in range(TOP_LEVEL)
    ],
}


async def _view(api: httpx.AsyncClient, onboarding_id: str) -> dict[str, Any]:
    """The onboarding's status query; {"error": ...} while no worker can answer it."""
    try:
        response = await api.get(f"/v1/onboardings/{onboarding_id}")
    except httpx.HTTPError as exc:
        return {"error": repr(exc)}
    if response.status_code != 200:
        return {"error": f"{response.status_code} {response.text[:1000]}"}
    body: dict[str, Any] = response.json()
    return body


def _step(view: dict[str, Any], name: str) -> dict[str, Any]:
    step: dict[str, Any] = next(s for s in view["steps"] if s["name"] == name)
    return step


async def _count(pool: Pool, client_id: uuid.UUID) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM folders WHERE client_id = $1", client_id))


@pytest.mark.timeout(240)
async def test_worker_crash_mid_folders_resumes_without_duplicates(
    api: httpx.AsyncClient, settings: Settings, pool: Pool, worker_processes: WorkerProcesses
) -> None:
    """A worker SIGKILLed mid folder step, then restarted: set up, every folder exactly once."""
    tree = FolderTreeTemplate.model_validate({k: v for k, v in TREE.items() if k != "code"})
    planned = plan_folders(tree, FISCAL_YEAR, LANGUAGE)
    total = len(planned)
    assert total == TOP_LEVEL * (1 + CHILDREN) * 25

    assert (await api.post("/v1/folder-trees", json=TREE)).status_code == 201
    first = worker_processes.start()
    response = await api.post(
        "/v1/onboardings",
        json={
            "client": {
                "first_name": "Camille",
                "last_name": "Martin",
                "email": "camille.martin@example.com",
                "language": LANGUAGE,
            },
            "fiscal_year": {
                "start": FISCAL_YEAR.start.isoformat(),
                "end": FISCAL_YEAR.end.isoformat(),
            },
            "overrides": {"folder_tree": TREE["code"]},
            # Not the invitation's concern here: a client kept muted waits, once set up, for its
            # notifications (never invited while muted), rather than for the director to accept.
            "notifications": {"keep_muted": True},
        },
        headers={"Idempotency-Key": f"worker-crash-{uuid.uuid4()}"},
    )
    assert response.status_code == 202, response.text
    onboarding_id = response.json()["id"]

    # The folder step has started: the view says so, and names the client it creates folders for.
    async def status() -> dict[str, Any]:
        worker_processes.assert_running()
        return await _view(api, onboarding_id)

    try:
        view = await eventually(
            status,
            until=lambda v: "error" not in v and _step(v, "folders")["state"] != "pending",
            what="the folder step started",
            within=30,
        )
    except AssertionError as failed:
        raise AssertionError(worker_processes.output()) from failed
    assert _step(view, "folders")["state"] == "running", view
    client_id = uuid.UUID(view["client_id"])

    # Kill as soon as the first folders are in, while the step is still running.
    try:
        await eventually(
            lambda: _count(pool, client_id), what="a first folder", within=20, every=0.01
        )
    except AssertionError as failed:
        raise AssertionError(worker_processes.output()) from failed
    worker_processes.crash(first)
    # A statement the dead worker had sent may still commit: count once the database is quiet.
    await asyncio.sleep(1)
    at_kill = await _count(pool, client_id)
    assert 0 < at_kill < total, f"not killed mid-step: {at_kill} of {total} folders"
    print(f"folders at kill: {at_kill} of {total}")

    worker_processes.start()
    # Temporal retries the activity once its 30 s heartbeat timeout has passed.
    try:
        view = await eventually(
            status,
            until=lambda v: v.get("status") in ("WAITING_FOR_UNMUTE", "COMPLETED", "FAILED"),
            what="the onboarding past its folders",
            within=120,
            every=0.5,
        )
    except AssertionError as failed:
        raise AssertionError(worker_processes.output()) from failed
    assert view.get("status") == "WAITING_FOR_UNMUTE", f"{view}\n{worker_processes.output()}"

    folders = _step(view, "folders")
    assert folders["attempts"] >= 2, folders
    states = {s["name"]: s["state"] for s in view["steps"]}
    assert states.pop("invitation") == "waiting"  # for the notifications to be switched on
    assert set(states.values()) <= {"completed", "skipped"}, states
    assert states["folders"] == "completed"
    assert states["company_lookup"] == "skipped"  # no SIRET
    assert view["folders_created"] == total

    counted = await pool.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT path) AS paths FROM folders WHERE client_id = $1",
        client_id,
    )
    assert counted is not None
    assert (counted["n"], counted["paths"]) == (total, total)
    month_rows = await pool.fetch(
        "SELECT path, count(*) AS n FROM folders WHERE client_id = $1 AND kind = 'month' "
        "GROUP BY path",
        client_id,
    )
    assert {r["path"]: r["n"] for r in month_rows} == {
        f.path: 1 for f in planned if f.kind == "month"
    }
    stored = await pool.fetch(
        "SELECT path, parent_path, name, kind, position FROM folders WHERE client_id = $1",
        client_id,
    )
    assert sorted(tuple(r) for r in stored) == sorted(
        (f.path, f.parent_path, f.name, f.kind, f.position) for f in planned
    )
    print(f"folders at the end: {counted['n']} of {total}")
