"""Bulk imports end to end: real files through the API, real workers, real onboardings, and a
registry stand-in that knows every company of the file.

- A 1,000-row workbook with 20 bad rows: each bad row is reported by row and field, the 980 others
  become 980 onboardings and clients, and the registry is asked once per SIREN of the file.
- A worker SIGKILLed in the middle of an import, then started again: the import finishes and every
  row is onboarded exactly once.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from activities.registry import RegistryConfig, build_registry_client
from api.deps import Services
from api.main import create_app
from core.settings import Settings
from devstack.registry_standin import RegistryStandin
from devstack.serving import serve_app as serve
from devstack.synthetic_companies import synthetic_units
from store.pool import Pool
from tests.e2e.processes import WorkerProcesses
from tests.eventually import eventually
from tests.factories import Tenant
from tests.import_files import client_list, write_xlsx
from worker.main import build_workers, running

pytestmark = pytest.mark.e2e


def sirets_of(units: list[dict[str, Any]]) -> list[str]:
    """Every establishment of every unit, in order: units with a second site give two rows."""
    return [
        etab["siret"] for unit in units for etab in [unit["siege"], *unit["autres_etablissements"]]
    ]


def companies(count: int, *, with_second_site: int, start: int) -> list[dict[str, Any]]:
    """`count` synthetic companies, the first `with_second_site` of them with two establishments."""
    return synthetic_units(with_second_site, start=start, secondary_establishments=1) + (
        synthetic_units(count - with_second_site, start=start + with_second_site)
    )


async def _post_import(api: httpx.AsyncClient, data: bytes) -> dict[str, Any]:
    response = await api.post(
        "/v1/imports",
        files={"file": ("clients.xlsx", data, "application/octet-stream")},
        data={"invitation_mode": "manual"},
        headers={"Idempotency-Key": f"e2e-{uuid.uuid4()}"},
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def _progress(api: httpx.AsyncClient, import_id: str) -> dict[str, Any]:
    """The import's status; {} while no worker answers the progress query."""
    try:
        response = await api.get(f"/v1/imports/{import_id}")
    except httpx.HTTPError:
        return {}
    body: dict[str, Any] = response.json() if response.status_code == 200 else {}
    return body


async def _until_done(
    api: httpx.AsyncClient, import_id: str, *, polls: int, every: float = 0.5
) -> dict[str, Any]:
    return await eventually(
        lambda: _progress(api, import_id),
        until=lambda body: (body.get("progress") or {}).get("done"),
        what="the import done",
        within=polls * every,
        every=every,
    )


async def _onboarding_runs(client: Client, task_queue: str) -> Counter[str]:
    """Runs of OnboardingWorkflow on this test's task queue, by workflow id (closed ones too)."""
    runs: Counter[str] = Counter()
    query = f"WorkflowType = 'OnboardingWorkflow' AND TaskQueue = '{task_queue}'"
    async for execution in client.list_workflows(query):
        runs[execution.id] += 1
    return runs


async def _assert_each_row_onboarded_once(
    pool: Pool, client: Client, settings: Settings, import_id: str, valid_sirets: list[str]
) -> None:
    rows = await pool.fetch(
        """
        SELECT r.row, r.siret, r.onboarding_id, o.status, c.siret AS client_siret
        FROM import_rows r
        LEFT JOIN onboardings o ON o.id = r.onboarding_id
        LEFT JOIN clients c ON c.onboarding_id = r.onboarding_id
        WHERE r.import_id = $1 AND r.request IS NOT NULL
        """,
        uuid.UUID(import_id),
    )
    assert sorted(r["siret"] for r in rows) == sorted(valid_sirets)
    assert all(r["onboarding_id"] is not None for r in rows)
    assert len({r["onboarding_id"] for r in rows}) == len(valid_sirets)
    assert Counter(r["status"] for r in rows) == {"READY": len(valid_sirets)}
    # One client per row, with the row's SIRET (the join would double a row with two clients).
    assert [r["client_siret"] for r in sorted(rows, key=lambda r: r["row"])] == [
        r["siret"] for r in sorted(rows, key=lambda r: r["row"])
    ]
    onboardings = await pool.fetchval(
        "SELECT count(*) FROM onboardings WHERE import_id = $1", uuid.UUID(import_id)
    )
    assert onboardings == len(valid_sirets)
    # Temporal agrees: one run per onboarding, none started twice.
    runs = await _onboarding_runs(client, settings.task_queue)
    assert len(runs) == len(valid_sirets)
    assert set(runs.values()) == {1}, [k for k, v in runs.items() if v > 1]


@pytest.fixture
async def fast_registry() -> AsyncIterator[RegistryStandin]:
    """A stand-in without a rate limit: the rate is `make bench`'s subject, not this test's."""
    async with RegistryStandin(rate_limit=None) as server:
        yield server


@pytest.mark.timeout(600)
async def test_1000_row_workbook_gives_980_onboardings(
    settings: Settings,
    pool: Pool,
    client: Client,
    tenant: Tenant,
    fast_registry: RegistryStandin,
    tmp_path: Path,
) -> None:
    units = companies(950, with_second_site=50, start=0)
    sirets = sirets_of(units)
    assert len(sirets) == 1000
    fast_registry.add_units(units)
    clients = client_list(sirets)
    data = write_xlsx(tmp_path / "clients.xlsx", clients.rows)
    valid = clients.valid_sirets()
    assert len(valid) == 980

    settings = settings.model_copy(
        update={
            "registry_base_url": fast_registry.url,
            "registry_rate_limit": 500.0,
            "import_window": 50,
        }
    )
    app = create_app(settings, services=Services(settings=settings, pool=pool, temporal=client))
    async with httpx.AsyncClient() as http, serve(app) as api:
        api.headers.update(tenant.auth)
        workers = build_workers(
            client,
            pool=pool,
            settings=settings,
            http=http,
            registry=build_registry_client(RegistryConfig.from_settings(settings), http=http),
        )
        async with running(workers):
            started = await _post_import(api, data)
            assert (started["total"], started["valid"]) == (1000, 980)
            assert {(e["row"], e["field"]) for e in started["errors"]} == clients.expected_errors
            import_id = started["id"]
            body = await _until_done(api, import_id, polls=1000)
            report = (await api.get(f"/v1/imports/{import_id}/report.csv")).text

    assert body["progress"]["counts"] == {
        "started": 980,
        "skipped": 0,
        "ready": 980,
        "waiting_for_input": 0,
        "failed": 0,
    }
    assert body["onboardings_by_status"] == {"READY": 980}
    outcome = {int(r[0]): r[1] for r in list(csv.reader(io.StringIO(report)))[1:]}
    assert len(outcome) == 1000
    assert {row for row, o in outcome.items() if o == "invalid"} == {
        row for row, _ in clients.expected_errors
    }
    await _assert_each_row_onboarded_once(pool, client, settings, import_id, valid)
    # One registry request per SIREN of the valid rows: two sites of one company cost one.
    assert fast_registry.stats.total_requests == len({s[:9] for s in valid}) < len(valid)


@pytest.mark.timeout(300)
async def test_worker_killed_mid_import_each_row_onboarded_once(
    settings: Settings,
    api: httpx.AsyncClient,
    pool: Pool,
    client: Client,
    tmp_path: Path,
) -> None:
    """SIGKILL the worker once a third of the rows have started; a new worker finishes the
    import, and every row has exactly one onboarding, one client and one workflow run."""
    units = companies(100, with_second_site=20, start=10_000)
    sirets = sirets_of(units)
    clients = client_list(sirets, bad_rows=2)
    data = write_xlsx(tmp_path / "clients.xlsx", clients.rows)
    valid = clients.valid_sirets()

    async with RegistryStandin(extra_units=units) as registry:  # the real 7 requests/s
        settings = settings.model_copy(update={"registry_base_url": registry.url})
        workers = WorkerProcesses(settings, tmp_path)
        try:
            # As a fleet runs them: the lookups in a process of their own. The main worker,
            # with the workflows, is the one killed.
            lookups = workers.start("registry")
            first = workers.start("main")
            started = await _post_import(api, data)
            import_id = started["id"]

            async def running_import() -> dict[str, Any]:
                workers.assert_all_running(lookups, first)
                return await _progress(api, import_id)

            body = await eventually(
                running_import,
                until=lambda b: (b.get("progress") or {}).get("counts", {}).get("started", 0) >= 40,
                what="40 rows started",
                within=60,
                every=0.1,
            )
            progress = body["progress"]
            assert not progress["done"], f"finished before the kill: {progress}"
            workers.crash(first)
            print(f"killed at {progress['counts']}, in flight {progress['in_flight']}")

            second = workers.start("main")
            body = await _until_done(api, import_id, polls=480)
            workers.assert_all_running(lookups, second)
        except BaseException:
            print(workers.output())
            raise
        finally:
            workers.kill_all()

    counts = body["progress"]["counts"]
    assert counts["started"] == counts["ready"] == len(valid), counts
    await _assert_each_row_onboarded_once(pool, client, settings, import_id, valid)
    distinct_sirens = len({s[:9] for s in valid})
    # Lookups cut off by the kill may be asked again; nothing else is.
    assert distinct_sirens <= registry.stats.total_requests <= distinct_sirens + 20
