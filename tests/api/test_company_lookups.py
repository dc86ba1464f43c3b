"""GET /v1/company-lookups/{identifier} over the real stack: the registry stand-in for SIRETs
(with its faults), the KBO tables loaded from a sample for Belgian numbers, and the registry's
fleet-wide request budget in PostgreSQL shared with the workers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx

from devstack import kbo_data
from devstack.registry_standin import RegistryStandin
from store import kbo, limits
from store.pool import Pool
from tests.api_helpers import hold_every_place
from tests.factories import Tenant

DANONE_HEAD_OFFICE = "55203253400646"
# Luhn-valid, not in the stand-in's companies.
UNKNOWN_SIRET = "73282932000074"


async def test_look_up_known_siret_gives_what_the_register_says(
    api: httpx.AsyncClient, tenant: Tenant, registry: RegistryStandin
) -> None:
    """A SIRET the register knows: its name, address, legal form and state."""
    answer = await api.get(f"/v1/company-lookups/{DANONE_HEAD_OFFICE}", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["outcome"] == "found"
    assert body["company"]["name"] == "DANONE"
    assert "75009" in body["company"]["address"] and body["company"]["active"] is True
    assert body["company"]["legal_form"] == "5599"


async def test_look_up_unknown_siret_says_unknown(
    api: httpx.AsyncClient, tenant: Tenant, registry: RegistryStandin
) -> None:
    """A valid SIRET the register does not know: "unknown", not an error."""
    answer = await api.get(f"/v1/company-lookups/{UNKNOWN_SIRET}", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"outcome": "unknown", "company": None}


async def test_look_up_with_the_register_down_says_unreachable(
    api: httpx.AsyncClient, tenant: Tenant, registry: RegistryStandin
) -> None:
    """The register failing: "cannot be reached now", never a 500."""
    registry.set_down()
    answer = await api.get(f"/v1/company-lookups/{DANONE_HEAD_OFFICE}", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "unreachable"


async def test_look_up_siret_with_wrong_checksum_is_refused_naming_the_field(
    api: httpx.AsyncClient, tenant: Tenant, registry: RegistryStandin
) -> None:
    """A wrong check digit: 422 naming `siret`, and the register is not asked."""
    answer = await api.get("/v1/company-lookups/55203253400647", headers=tenant.auth)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in answer.json()["errors"]] == ["siret"]
    assert registry.stats.total_requests == 0


async def test_look_up_belgian_number_reads_the_loaded_kbo_tables(
    api: httpx.AsyncClient, tenant: Tenant, pool: Pool, tmp_path: Path
) -> None:
    """A Belgian enterprise number: found in the KBO sample loaded, in the language asked."""
    directory = kbo_data.write_full_set(
        tmp_path / "full", synthetic=10, extract_number=150, snapshot=date(2026, 11, 27)
    )
    source = kbo.KboSource(directory)
    try:
        await kbo.load_full(pool, source=source)
    finally:
        source.close()
    answer = await api.get("/v1/company-lookups/BE0202239951?language=fr", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["outcome"] == "found" and body["company"]["name"] == "Proximus"
    assert body["company"]["address"].startswith("Boulevard du Roi Albert II")
    wrong = await api.get("/v1/company-lookups/0202239952", headers=tenant.auth)
    assert wrong.status_code == 422
    assert [e["field"] for e in wrong.json()["errors"]] == ["enterprise_number"]


async def test_look_up_with_the_registry_budget_spent_says_try_again_shortly(
    api: httpx.AsyncClient, tenant: Tenant, registry: RegistryStandin, pool: Pool
) -> None:
    """Every place of the fleet's window held (by the workers, say): 503 with Retry-After after
    a short wait, and nothing sent to the register."""
    held = await hold_every_place(pool, registry)
    try:
        answer = await api.get(f"/v1/company-lookups/{DANONE_HEAD_OFFICE}", headers=tenant.auth)
    finally:
        for place_id in held:
            await limits.leave_window(pool, place_id=place_id)
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.json()["type"].endswith("registry-busy")
    assert registry.stats.total_requests == 0
