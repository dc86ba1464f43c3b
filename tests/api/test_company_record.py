"""/v1/clients/{id}/company over the real stack: the registry's record a client keeps from its
creation, staff corrections with their dated history, and a re-lookup against the registry
stand-in that says what changed (PostgreSQL, the create-client activity, the stand-in)."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import httpx
from temporalio.worker import Worker

from devstack import kbo_data
from devstack.registry_standin import RegistryStandin
from store import clients, kbo, limits
from store.pool import Pool
from tests.api.client_records_helpers import created_client, danone_as_registered
from tests.api_helpers import hold_every_place
from tests.e2e.helpers import wait_status
from tests.factories import Tenant, make_client, make_tenant


async def _key_of(api: httpx.AsyncClient, role: str) -> dict[str, str]:
    user = await api.post(
        "/v1/users",
        json={"email": f"{role}-{uuid.uuid4().hex[:6]}@ex.com", "name": "U", "role": role},
    )
    key = await api.post(f"/v1/users/{user.json()['id']}/api-keys", json={"name": "k"})
    return {"Authorization": f"Bearer {key.json()['key']}"}


async def test_read_company_keeps_the_record_the_client_was_made_from(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """The create-client activity keeps the registry's answer once (a retry adds nothing): its
    source, the date and the fields it gave."""
    client_id = await created_client(pool, tenant, company=danone_as_registered())
    body = (await api.get(f"/v1/clients/{client_id}/company")).json()
    record = body["record"]
    assert record["source"] == "recherche-entreprises" and record["outcome"] == "found"
    assert record["fields"]["name"] == "DANONE" and record["fields"]["legal_form"] == "5599"
    assert record["looked_up_at"]
    assert body["current"] == {
        "name": "DANONE",
        "address": "17 BOULEVARD HAUSSMANN 75009 PARIS",
        "legal_form": "5599",
    }
    assert body["corrections"]["items"] == [] and body["last_relookup"] is None
    count = await pool.fetchval(
        "SELECT count(*) FROM client_company_lookups WHERE client_id = $1", client_id
    )
    assert count == 1


async def test_onboarding_keeps_the_registry_record_its_client_was_made_from(
    api: httpx.AsyncClient, worker: Worker, registry: RegistryStandin
) -> None:
    """A real onboarding (workflow, registry stand-in) leaves its client with the registry's
    answer: the stand-in's source and fields, dated."""
    body = {
        "client": {
            "first_name": "Paul",
            "last_name": "Leroy",
            "email": "paul@edf.example",
            "language": "fr",
            "siret": "55208131766522",
        },
        "invitation": {"mode": "manual"},
    }
    started = await api.post(
        "/v1/onboardings", json=body, headers={"Idempotency-Key": f"record-{uuid.uuid4()}"}
    )
    assert started.status_code == 202, started.text
    status = await wait_status(api, started.json()["id"], "READY", "FAILED")
    assert status["status"] == "READY", status
    company = (await api.get(f"/v1/clients/{status['client_id']}/company")).json()
    assert company["record"]["source"] == "recherche-entreprises"
    assert company["record"]["fields"]["siret"] == "55208131766522"
    assert company["current"]["name"] == company["record"]["fields"]["name"]


async def test_read_company_of_a_client_without_record_says_none_kept(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """A client made before records were kept (or without a company) answers record: null."""
    _, client_id = await make_client(pool, tenant, name="Ancien client")
    body = (await api.get(f"/v1/clients/{client_id}/company")).json()
    assert body["record"] is None
    assert body["current"] == {"name": "Ancien client", "address": None, "legal_form": None}


async def test_correct_company_changes_the_fields_and_dates_each_with_who(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """A correction sets the client's name and company fields; the history names each changed
    field, before and after, who and when; the kept record stays as the registry gave it."""
    client_id = await created_client(pool, tenant, company=danone_as_registered())
    answer = await api.post(
        f"/v1/clients/{client_id}/company/corrections",
        json={"name": "Danone SA", "address": "17 bd Haussmann, 75009 Paris", "legal_form": "5599"},
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["current"]["name"] == "Danone SA"
    history = body["corrections"]["items"]
    assert {(c["field"], c["old_value"], c["new_value"]) for c in history} == {
        ("name", "DANONE", "Danone SA"),
        ("address", "17 BOULEVARD HAUSSMANN 75009 PARIS", "17 bd Haussmann, 75009 Paris"),
    }, "an unchanged legal form records nothing"
    assert {c["corrected_by"] for c in history} == {str(tenant.admin.id)}
    assert all(c["origin"] == "person" and c["corrected_at"] for c in history)
    assert body["record"]["fields"]["name"] == "DANONE"
    row = await clients.get(pool, client_id=client_id)
    assert row is not None and row.name == "Danone SA"
    assert row.company is not None and row.company["address"] == "17 bd Haussmann, 75009 Paris"


async def test_correct_company_refuses_empty_and_accountants(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """Nothing to correct is 422 naming the field; an accountant is 403 and nothing changes."""
    client_id = await created_client(pool, tenant, company=danone_as_registered())
    url = f"/v1/clients/{client_id}/company/corrections"
    empty = await api.post(url, json={})
    assert empty.status_code == 422
    assert [e["field"] for e in empty.json()["errors"]] == ["name"]
    blank = await api.post(url, json={"name": "  "})
    assert blank.status_code == 422
    refused = await api.post(url, json={"name": "X"}, headers=await _key_of(api, "accountant"))
    assert refused.status_code == 403
    row = await clients.get(pool, client_id=client_id)
    assert row is not None and row.name == "DANONE"


async def test_relookup_shows_what_changed_at_the_registry_then_applies_it(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, registry: RegistryStandin
) -> None:
    """The client was made when the registry gave another name and legal form: a re-lookup says
    what changed (then vs now, with today's value), it is kept, and applying it is a correction
    whose origin is the registry; a second re-lookup compares with the first and finds nothing."""
    then = danone_as_registered(name="DANONE ANCIEN NOM", legal_form="5710")
    client_id = await created_client(pool, tenant, company=then)
    answer = await api.post(f"/v1/clients/{client_id}/company/lookups")
    assert answer.status_code == 201, answer.text
    found = answer.json()
    assert found["lookup"]["outcome"] == "found"
    assert found["compared_with"]["fields"]["name"] == "DANONE ANCIEN NOM"
    assert {(c["field"], c["before"], c["now"], c["current"]) for c in found["changes"]} == {
        ("name", "DANONE ANCIEN NOM", "DANONE", "DANONE ANCIEN NOM"),
        ("legal_form", "5710", "5599", "5710"),
    }
    assert registry.stats.total_requests >= 1
    shown = (await api.get(f"/v1/clients/{client_id}/company")).json()
    assert shown["last_relookup"]["changes"] == found["changes"]

    applied = await api.post(
        f"/v1/clients/{client_id}/company/corrections",
        json={"name": "DANONE", "legal_form": "5599", "from_registry": True},
    )
    assert applied.status_code == 201, applied.text
    assert {c["origin"] for c in applied.json()["corrections"]["items"]} == {"registry"}
    again = (await api.post(f"/v1/clients/{client_id}/company/lookups")).json()
    assert again["changes"] == []


async def test_relookup_refuses_without_number_accountants_and_other_firms(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, registry: RegistryStandin
) -> None:
    """No SIRET nor enterprise number: 409; an accountant: 403; another firm's client: 404."""
    _, bare = await make_client(pool, tenant)
    assert (await api.post(f"/v1/clients/{bare}/company/lookups")).status_code == 409
    client_id = await created_client(pool, tenant, company=danone_as_registered())
    accountant = await _key_of(api, "accountant")
    url = f"/v1/clients/{client_id}/company/lookups"
    assert (await api.post(url, headers=accountant)).status_code == 403
    other = await make_tenant(pool, "Autre cabinet")
    for method, path in (
        ("POST", "/company/lookups"),
        ("GET", "/company"),
        ("POST", "/company/corrections"),
    ):
        answer = await api.request(
            method,
            f"/v1/clients/{client_id}{path}",
            headers=other.auth,
            json={"name": "X"} if "corrections" in path else None,
        )
        assert answer.status_code == 404, (path, answer.text)


async def test_erase_personal_data_scrubs_a_sole_traders_record_and_corrections(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant
) -> None:
    """A sole trader's record names a person: erasing the client's personal data leaves the
    person's name and address in neither the kept record nor the corrections' history, and
    neither a correction nor a re-lookup may bring them back (409)."""
    person = danone_as_registered(name="LÉA MARTIN", address="3 RUE DES LILAS 75020 PARIS")
    client_id = await created_client(pool, tenant, company=person)
    corrected = await api.post(
        f"/v1/clients/{client_id}/company/corrections",
        json={"name": "Léa Martin EI", "address": "5 rue des Lilas, 75020 Paris"},
    )
    assert corrected.status_code == 201, corrected.text
    assert (await api.delete(f"/v1/clients/{client_id}/personal-data")).status_code == 200
    body = (await api.get(f"/v1/clients/{client_id}/company")).json()
    text = str(body)
    for needle in ("MARTIN", "Martin", "LILAS", "Lilas"):
        assert needle not in text, needle
    assert body["record"]["fields"]["name"] == "[erased]"
    assert body["record"]["fields"]["siret"] == "55203253400646"
    # Nothing may bring the person's name back: neither a correction nor the registry's answer.
    again = await api.post(
        f"/v1/clients/{client_id}/company/corrections", json={"name": "Léa Martin EI"}
    )
    looked = await api.post(f"/v1/clients/{client_id}/company/lookups")
    assert [again.status_code, looked.status_code] == [409, 409]
    assert again.json()["type"].endswith("client-erased")


async def test_relookup_of_a_belgian_client_reads_the_kbo_tables(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, tmp_path: Path
) -> None:
    """A client made from the KBO under an older name: the re-lookup reads the loaded KBO
    tables (no SIRET) and says the name changed."""
    directory = kbo_data.write_full_set(
        tmp_path / "full", synthetic=10, extract_number=150, snapshot=date(2026, 11, 27)
    )
    source = kbo.KboSource(directory)
    try:
        await kbo.load_full(pool, source=source)
    finally:
        source.close()
    then = danone_as_registered(
        siret=None,
        siren=None,
        enterprise_number="0202239951",
        name="Belgacom",
        source="kbo-open-data",
    )
    client_id = await created_client(
        pool, tenant, company=then, siret=None, enterprise_number="0202239951"
    )
    answer = await api.post(f"/v1/clients/{client_id}/company/lookups")
    assert answer.status_code == 201, answer.text
    found = answer.json()
    assert found["lookup"]["source"] == found["compared_with"]["source"] == "kbo-open-data"
    assert ("name", "Belgacom", "Proximus") in {
        (c["field"], c["before"], c["now"]) for c in found["changes"]
    }


async def test_relookup_with_the_registry_budget_spent_says_try_again_and_keeps_nothing(
    api: httpx.AsyncClient, pool: Pool, tenant: Tenant, registry: RegistryStandin
) -> None:
    """Every place of the fleet's registry window held: 503 with Retry-After, the register not
    asked and no look-up recorded."""
    client_id = await created_client(pool, tenant, company=danone_as_registered())
    held = await hold_every_place(pool, registry)
    try:
        answer = await api.post(f"/v1/clients/{client_id}/company/lookups")
    finally:
        for place_id in held:
            await limits.leave_window(pool, place_id=place_id)
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) >= 1
    assert registry.stats.total_requests == 0
    kinds = await pool.fetch(
        "SELECT kind FROM client_company_lookups WHERE client_id = $1", client_id
    )
    assert [r["kind"] for r in kinds] == ["creation"]
