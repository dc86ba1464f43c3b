"""POST /v1/imports end to end: a real file, the registry stand-in, real workflows."""

from __future__ import annotations

import csv
import io
import multiprocessing
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from api.deps import Services
from api.main import create_app
from core.settings import Settings
from devstack.registry_standin import RegistryStandin
from devstack.serving import serve_app
from domain import search_attributes as sa
from store.pool import Pool
from tests.eventually import eventually
from tests.factories import Tenant
from tests.import_files import ROWS, clients_csv, write_xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _post(api: httpx.AsyncClient, data: bytes, **form: str) -> httpx.Response:
    return await api.post(
        "/v1/imports",
        files={"file": ("clients.csv", data, "text/csv")},
        data={"invitation_mode": "manual", **form},
    )


async def _until_done(api: httpx.AsyncClient, import_id: str) -> dict[str, Any]:

    async def body() -> dict[str, Any]:
        answer: dict[str, Any] = (await api.get(f"/v1/imports/{import_id}")).json()
        return answer

    return await eventually(
        body,
        until=lambda b: (b.get("progress") or {}).get("done"),
        what="the import done",
        within=30,
        every=0.1,
    )


async def test_import_reports_bad_rows_and_onboards_the_rest(
    api: httpx.AsyncClient, worker: Worker, registry: RegistryStandin
) -> None:
    """Bad language, bad SIRET and a repeated SIRET are reported by row and field; the two
    good rows are onboarded (registry looked up) and reach READY; a replay is the same import."""
    dry = await _post(api, clients_csv(ROWS), dry_run="true")
    assert dry.status_code == 200, dry.text
    assert (dry.json()["total"], dry.json()["valid"]) == (4, 2)
    assert {(e["row"], e["field"]) for e in dry.json()["errors"]} == {
        (4, "language"),
        (4, "siret"),
        (5, "siret"),
    }
    assert (await api.get("/v1/onboardings")).json()["items"] == []

    key = f"import-{uuid.uuid4()}"
    started = await api.post(
        "/v1/imports",
        files={"file": ("clients.csv", clients_csv(ROWS), "text/csv")},
        data={"invitation_mode": "manual"},
        headers={"Idempotency-Key": key},
    )
    assert started.status_code == 202, started.text
    import_id = started.json()["id"]
    body = await _until_done(api, import_id)
    assert body["progress"]["counts"]["started"] == 2
    assert body["progress"]["counts"]["ready"] == 2
    assert body["onboardings_by_status"] == {"READY": 2}
    assert registry.stats.total_requests == 2

    report = list(
        csv.reader(io.StringIO((await api.get(f"/v1/imports/{import_id}/report.csv")).text))
    )
    outcomes = {(r[0], r[1]) for r in report[1:]}
    assert ("2", "READY") in outcomes and ("3", "READY") in outcomes
    assert ("4", "invalid") in outcomes and ("5", "invalid") in outcomes

    again = await api.post(
        "/v1/imports",
        files={"file": ("clients.csv", clients_csv(ROWS), "text/csv")},
        data={"invitation_mode": "manual"},
        headers={"Idempotency-Key": key},
    )
    assert again.json()["id"] == import_id
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len((await api.get("/v1/onboardings")).json()["items"]) == 2


async def test_started_import_is_listed_under_its_firm(
    api: httpx.AsyncClient, client: Client, tenant: Tenant
) -> None:
    """The import's workflow carries PartnerId from its start, as every workflow the service
    starts does, so ops find a firm's imports in the Temporal UI as they find its onboardings."""
    started = await _post(api, clients_csv(ROWS[:1]))
    assert started.status_code == 202, started.text
    handle = client.get_workflow_handle(f"import-{started.json()['id']}")
    try:
        described = await handle.describe()
        assert described.typed_search_attributes.get(sa.PARTNER_ID) == str(tenant.partner.id)
    finally:
        await handle.terminate()  # no worker here: nothing else would end it


async def test_existing_client_is_reported_not_onboarded_twice(
    api: httpx.AsyncClient, worker: Worker, registry: RegistryStandin
) -> None:
    """A SIRET that is already a client of the partner is skipped and says so."""
    first = await _post(api, clients_csv(ROWS[:1]))
    await _until_done(api, first.json()["id"])
    second = await _post(api, clients_csv(ROWS[:2]))
    body = await _until_done(api, second.json()["id"])
    assert body["progress"]["counts"] == {
        "started": 1,
        "skipped": 1,
        "ready": 1,
        "waiting_for_input": 0,
        "failed": 0,
    }
    report = (await api.get(f"/v1/imports/{second.json()['id']}/report.csv")).text
    assert "already a client of this partner" in report


async def test_unreadable_file_and_missing_column_are_422(api: httpx.AsyncClient) -> None:
    """A file that is not a table, or lacks a required column, is refused naming the problem."""
    garbage = await _post(api, b"\x00\x01\x02 not a table")
    assert garbage.status_code == 422
    assert garbage.json()["errors"][0]["field"] in ("file", "mapping")
    no_email = await _post(api, "Prénom;Nom;Langue\r\nA;B;fr".encode("cp1252"))
    assert no_email.status_code == 422
    assert no_email.json()["errors"][0]["field"] == "mapping"
    assert "email" in no_email.json()["detail"]


async def test_cancel_gives_back_the_rows_not_started(
    api: httpx.AsyncClient, worker: Worker, pool: Pool, settings: Settings
) -> None:
    """One row at a time, cancelled at once: the rows already prepared but not started leave no
    onboarding behind (none lingers as SETTING_UP) and the report says they were cancelled."""
    settings.import_window = 1
    rows = [f"Ana;Row{n};row{n}@example.com;fr;Société {n};;Julie" for n in range(8)]
    started = await _post(api, clients_csv(rows))
    assert started.status_code == 202, started.text
    import_id = started.json()["id"]
    cancelled = await api.post(f"/v1/imports/{import_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text

    async def import_() -> dict[str, Any]:
        answer: dict[str, Any] = (await api.get(f"/v1/imports/{import_id}")).json()
        return answer

    body = await eventually(
        import_,
        until=lambda b: (b.get("progress") or {}).get("finished"),
        what="the cancelled import finished",
        within=30,
        every=0.1,
    )
    counts = body["progress"]["counts"]
    assert counts["started"] < len(rows), counts
    onboarded = await pool.fetchval(
        "SELECT count(*) FROM onboardings WHERE import_id = $1", uuid.UUID(import_id)
    )
    assert onboarded == counts["started"]
    report = list(
        csv.reader(io.StringIO((await api.get(f"/v1/imports/{import_id}/report.csv")).text))
    )[1:]
    outcomes = [r[1] for r in report]
    assert outcomes.count("cancelled") == len(rows) - counts["started"]
    assert "SETTING_UP" not in outcomes or counts["started"] > counts["ready"]


# A Flemish firm's CSV and a German-speaking one's workbook, headed in their own language.
DUTCH_FILE = "\r\n".join(
    [
        "Voornaam;Achternaam;E-mailadres;Taal;Bedrijfsnaam;SIRET-nummer;Dossierbeheerder;"
        "Begin boekjaar;E-mail zaakvoerder;Voornaam zaakvoerder;Achternaam zaakvoerder",
        "Jan;Peeters;jan@peeters.example;Nederlands;Peeters BV;35600000000048;Julie;"
        "01/01/2026;an@peeters.example;An;Maes",
    ]
).encode("cp1252")
GERMAN_ROWS: list[list[object]] = [
    [
        "Vorname", "Nachname", "E-Mail-Adresse", "Sprache", "Firmenname", "SIRET-Nummer",
        "Sachbearbeiter", "Geschäftsjahresbeginn", "E-Mail Geschäftsführer",
        "Vorname Geschäftsführer", "Nachname Geschäftsführer",
    ],
    [
        "Jürgen", "Müller", "juergen@mueller.example", "Deutsch", "Müller GmbH",
        "13002526500013", "Marc", "01.04.2026", "eva@mueller.example", "Eva", "Schmitz",
    ],
]  # fmt: skip


async def test_dutch_csv_and_german_xlsx_import_without_a_mapping(
    api: httpx.AsyncClient, worker: Worker, registry: RegistryStandin, tmp_path: Path
) -> None:
    """A CSV headed in Dutch and a workbook headed in German, no mapping given, each onboard
    their client to READY with every column in its field (language, case manager, director)."""
    workbook = write_xlsx(tmp_path / "kunden.xlsx", GERMAN_ROWS)
    files = [("klanten.csv", DUTCH_FILE, "text/csv"), ("kunden.xlsx", workbook, XLSX)]
    for name, data, kind in files:
        started = await api.post(
            "/v1/imports",
            files={"file": (name, data, kind)},
            data={"invitation_mode": "manual"},
        )
        assert started.status_code == 202, started.text
        assert (started.json()["valid"], started.json()["errors"]) == (1, [])
        body = await _until_done(api, started.json()["id"])
        assert body["onboardings_by_status"] == {"READY": 1}, body

    listed = (await api.get("/v1/clients", params={"sort": "name"})).json()["items"]
    seen = {}
    for item in listed:
        client = (await api.get(f"/v1/clients/{item['id']}")).json()
        director = client["users"][0]
        seen[client["last_name"]] = (
            client["language"],
            client["case_manager"],
            director["first_name"],
            director["last_name"],
        )
    assert seen == {
        "Peeters": ("nl", "Julie", "An", "Maes"),
        "Müller": ("de", "Marc", "Eva", "Schmitz"),
    }


async def test_import_readers_are_a_service_and_stop_with_the_app(
    settings: Settings, pool: Pool, client: Client, tenant: Tenant
) -> None:
    """The processes that read import files come from the app's services (api/deps.py), are
    started by the first file, and end when the app stops, services passed in or not."""
    services = Services(settings=settings, pool=pool, temporal=client)
    before = set(multiprocessing.active_children())
    async with serve_app(create_app(settings, services=services), access_log=False) as http:
        http.headers.update(tenant.auth)
        dry = await _post(http, clients_csv(ROWS), dry_run="true")
        assert dry.status_code == 200, dry.text
        readers = set(multiprocessing.active_children()) - before
        assert readers, "the dry run read its file in a reader process"
    assert not readers & set(multiprocessing.active_children())
