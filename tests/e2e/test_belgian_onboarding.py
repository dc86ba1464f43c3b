"""Belgian onboardings end to end: HTTP -> Temporal -> the KBO/BCE tables in PostgreSQL, loaded
from a generated set in the register's real format (devstack/kbo_data.py)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.worker import Worker

from devstack import kbo_data
from store import clients, kbo
from store.pool import Pool
from tests.e2e.helpers import wait_status
from tests.eventually import eventually


async def _load(pool: Pool, directory: Path, *, days_old: int) -> None:
    kbo_data.write_full_set(
        directory, synthetic=300, snapshot=date.today() - timedelta(days=days_old)
    )
    source = kbo.KboSource(directory)
    try:
        await kbo.load_full(pool, source=source)
    finally:
        source.close()


@pytest.fixture
async def kbo_recent(pool: Pool, tmp_path: Path) -> None:
    """A fresh extract (three days old) in service."""
    await _load(pool, tmp_path / "kbo", days_old=3)


def _body(number: str, language: str = "fr") -> dict[str, Any]:
    return {
        "client": {
            "first_name": "Marie",
            "last_name": "Dubois",
            "email": f"marie-{uuid.uuid4().hex[:6]}@example.be",
            "language": language,
            "enterprise_number": number,
        },
        "invitation": {"mode": "manual"},
    }


async def _start(api: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await api.post(
        "/v1/onboardings", json=body, headers={"Idempotency-Key": f"be-{uuid.uuid4()}"}
    )
    assert response.status_code == 202, response.text
    onboarding_id: str = response.json()["id"]
    return onboarding_id


def _lookup_step(view: dict[str, Any]) -> dict[str, Any]:
    step: dict[str, Any] = next(s for s in view["steps"] if s["name"] == "company_lookup")
    return step


async def test_belgian_onboarding_reaches_ready_with_the_kbo_company(
    api: httpx.AsyncClient, worker: Worker, pool: Pool, kbo_recent: None
) -> None:
    """BE0202.239.951 reaches READY: the client is Proximus at its Brussels head office, in the
    client's language, its number stored as 10 digits; the step names the register and the
    extract's date, and there is no staleness warning."""
    onboarding_id = await _start(api, _body("BE0202.239.951"))
    view = await wait_status(api, onboarding_id, "READY", "AWAITING_COMPANY_DETAILS")
    assert view["status"] == "READY", view

    step = _lookup_step(view)
    assert step["state"] == "completed"
    extract = (date.today() - timedelta(days=3)).isoformat()
    assert "KBO/BCE" in step["detail"] and extract in step["detail"], step
    assert view["warnings"] == []
    company = view["company"]
    assert company["name"] == "Proximus"
    assert company["address"] == "Boulevard du Roi Albert II 27, 1030 Schaerbeek"
    assert (company["enterprise_number"], company["source"]) == ("0202239951", "kbo-open-data")
    # VIES (the stand-in) confirmed the VAT number.
    assert company["vat_check"]["state"] == "valid"
    assert company["vat_check"]["vat_number"] == "BE0202239951"
    row = await pool.fetchrow(
        "SELECT name, enterprise_number, company FROM clients WHERE onboarding_id = $1",
        uuid.UUID(onboarding_id),
    )
    assert row is not None
    assert (row["name"], row["enterprise_number"]) == ("Proximus", "0202239951")
    assert row["company"]["postal_code"] == "1030"


async def test_belgian_onboarding_in_dutch_names_the_company_in_dutch(
    api: httpx.AsyncClient, worker: Worker, kbo_recent: None
) -> None:
    """A Dutch-speaking client of KBC gets the Dutch name and address."""
    view = await wait_status(
        api, await _start(api, _body("0403.227.515", "nl")), "READY", "AWAITING_COMPANY_DETAILS"
    )
    assert view["status"] == "READY", view
    assert view["company"]["name"] == "KBC Groep"
    assert view["company"]["address"] == "Havenlaan 2, 1080 Sint-Jans-Molenbeek"


async def test_unknown_or_stopped_enterprise_waits_for_company_details(
    api: httpx.AsyncClient, worker: Worker, pool: Pool, kbo_recent: None
) -> None:
    """A valid number the register does not have, or one of a stopped enterprise, waits for
    company details, saying why."""
    unknown = kbo_data.number_for(9_999_990)  # valid mod 97, outside the generated set
    view = await wait_status(api, await _start(api, _body(unknown)), "AWAITING_COMPANY_DETAILS")
    assert "unknown to the KBO/BCE" in _lookup_step(view)["detail"]

    await pool.execute(
        "UPDATE kbo_enterprise SET status = 'ST' WHERE enterprise_number = '0400.378.485'"
    )
    view = await wait_status(
        api, await _start(api, _body("0400378485")), "AWAITING_COMPANY_DETAILS"
    )
    assert "stopped" in _lookup_step(view)["detail"]


async def test_same_enterprise_twice_for_a_partner_second_waits_as_already_a_client(
    api: httpx.AsyncClient, worker: Worker, kbo_recent: None
) -> None:
    """The second onboarding of bpost for one partner waits for details: already a client."""
    first = await wait_status(api, await _start(api, _body("0214.596.464")), "READY")
    assert first["company"]["name"] == "bpost"
    second = await wait_status(
        api, await _start(api, _body("BE0214596464")), "AWAITING_COMPANY_DETAILS"
    )
    assert _lookup_step(second)["detail"] == "enterprise number already used by another client"


async def test_stale_extract_warns_in_the_status(
    api: httpx.AsyncClient, worker: Worker, pool: Pool, tmp_path: Path
) -> None:
    """An extract older than 45 days still answers, with a warning in the status (its age is
    onboarding_kbo_extract_age_days: tests/ops/test_metrics.py)."""
    await _load(pool, tmp_path / "old", days_old=60)
    view = await wait_status(api, await _start(api, _body("0403.053.608")), "READY")
    assert view["company"]["name"] == "UCB"
    assert view["warnings"] == [
        "the KBO/BCE extract is 60 days old: the company data may be out of date"
    ]


async def test_bad_enterprise_number_is_422_before_any_workflow(api: httpx.AsyncClient) -> None:
    """0202.239.952 (a wrong check digit) is a 422 naming client.enterprise_number."""
    response = await api.post(
        "/v1/onboardings",
        json=_body("0202.239.952"),
        headers={"Idempotency-Key": f"be-{uuid.uuid4()}"},
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["client.enterprise_number"]


async def test_enterprise_number_owner_ignores_other_partners(pool: Pool) -> None:
    """The duplicate check is per partner: no owner for an unknown partner."""
    assert (
        await clients.enterprise_number_owner(
            pool, partner_id=uuid.uuid4(), enterprise_number="0202239951"
        )
        is None
    )


async def _import(api: httpx.AsyncClient, lines: list[str]) -> dict[str, Any]:
    started = await api.post(
        "/v1/imports",
        files={"file": ("klanten.csv", "\r\n".join(lines).encode(), "text/csv")},
        data={"invitation_mode": "manual"},
    )
    assert started.status_code == 202, started.text
    return await _until_done(api, started.json()["id"])


async def _until_done(api: httpx.AsyncClient, import_id: str) -> dict[str, Any]:
    async def import_() -> dict[str, Any]:
        body: dict[str, Any] = (await api.get(f"/v1/imports/{import_id}")).json()
        return body

    return await eventually(
        import_,
        until=lambda body: (body.get("progress") or {}).get("done"),
        what="the import done",
        within=30,
        every=0.1,
    )


async def test_import_skips_an_enterprise_number_already_a_client(
    api: httpx.AsyncClient, worker: Worker, kbo_recent: None
) -> None:
    """A Belgian row whose enterprise number is already a client of the partner is skipped and
    says so, as a SIRET's is, instead of waiting for company details."""
    header = "Voornaam;Naam;E-mail;Taal;Ondernemingsnummer"
    await _import(api, [header, "Jan;Peeters;jan@solvay.example;fr;0403.091.220"])
    body = await _import(
        api,
        [
            header,
            "Jan;Peeters;jan2@solvay.example;fr;BE0403091220",
            "An;Maes;an@ucb.example;fr;0403.053.608",
        ],
    )
    assert body["progress"]["counts"]["skipped"] == 1, body
    assert body["progress"]["counts"]["ready"] == 1, body
    report = (await api.get(f"/v1/imports/{body['id']}/report.csv")).text
    assert "already a client of this partner" in report


async def test_dutch_headed_import_with_enterprise_numbers_onboards_without_a_mapping(
    api: httpx.AsyncClient, worker: Worker, pool: Pool, kbo_recent: None
) -> None:
    """A Dutch-headed file (Voornaam, Naam, E-mail, Taal, Ondernemingsnummer) is imported with
    no column mapping: its Belgian rows are looked up in the KBO, Proximus and KBC reach READY
    with their Dutch names, the unknown number waits for company details."""
    unknown = kbo_data.number_for(9_999_990)
    text = "\r\n".join(
        [
            "Voornaam;Naam;E-mail;Taal;Ondernemingsnummer",
            "Jan;Peeters;jan@proximus.example;nl;BE 0202.239.951",
            "An;Maes;an@kbc.example;Nederlands;0403227515",
            "Els;Claes;els@onbekend.example;nl;" + unknown,
        ]
    )
    started = await api.post(
        "/v1/imports",
        files={"file": ("klanten.csv", text.encode(), "text/csv")},
        data={"invitation_mode": "manual"},
    )
    assert started.status_code == 202, started.text
    import_id = started.json()["id"]
    body = await _until_done(api, import_id)
    assert body["onboardings_by_status"] == {"READY": 2, "AWAITING_COMPANY_DETAILS": 1}, body
    names = await pool.fetch(
        "SELECT c.name, c.enterprise_number FROM clients c JOIN onboardings o"
        " ON o.id = c.onboarding_id WHERE o.import_id = $1 ORDER BY c.enterprise_number",
        uuid.UUID(import_id),
    )
    assert [(r["name"], r["enterprise_number"]) for r in names][:2] == [
        ("Proximus", "0202239951"),
        ("KBC Groep", "0403227515"),
    ]
