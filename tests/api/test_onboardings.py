"""POST /v1/onboardings: idempotency and input validation."""

from __future__ import annotations

import uuid

import httpx
from temporalio.client import Client

from domain.onboarding import workflow_id_for
from store.pool import Pool

BODY = {
    "client": {
        "first_name": "Paul",
        "last_name": "Martin",
        "company_name": "Atelier Martin",
        "email": "paul@martin.be",
        "language": "nl",
    }
}


async def test_retried_post_with_same_key_returns_same_onboarding(
    api: httpx.AsyncClient, client: Client, pool: Pool
) -> None:
    """The same Idempotency-Key twice gives one onboarding, one row and one workflow."""
    key = f"retry-{uuid.uuid4()}"
    first = await api.post("/v1/onboardings", json=BODY, headers={"Idempotency-Key": key})
    second = await api.post("/v1/onboardings", json=BODY, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    rows = await pool.fetchval("SELECT count(*) FROM onboardings WHERE idempotency_key = $1", key)
    assert rows == 1
    workflow_id = workflow_id_for(uuid.UUID(first.json()["id"]))
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert len(runs) <= 1  # visibility may lag; never two runs
    description = await client.get_workflow_handle(workflow_id).describe()
    assert description.id == workflow_id


async def test_same_key_with_other_body_is_conflict(api: httpx.AsyncClient) -> None:
    """Reusing a key for a different request is refused with 409, nothing started."""
    key = f"conflict-{uuid.uuid4()}"
    first = await api.post("/v1/onboardings", json=BODY, headers={"Idempotency-Key": key})
    assert first.status_code == 202
    other = {"client": {**BODY["client"], "email": "other@martin.be"}}
    second = await api.post("/v1/onboardings", json=other, headers={"Idempotency-Key": key})
    assert second.status_code == 409
    assert second.headers["content-type"] == "application/problem+json"
    assert second.json()["type"].endswith("/idempotency-key-reused")


async def test_invalid_body_names_each_bad_field(api: httpx.AsyncClient, pool: Pool) -> None:
    """422 problem details list every failing field; no onboarding row is written."""
    before = await pool.fetchval("SELECT count(*) FROM onboardings")
    response = await api.post(
        "/v1/onboardings",
        json={
            "client": {
                "first_name": "",
                "last_name": "Martin",
                "email": "not-an-email",
                "language": "es",
                "siret": "55203253400647",
            },
            "fiscal_year": {"start": "2026-01-01", "end": "2028-06-30"},
        },
        headers={"Idempotency-Key": f"bad-{uuid.uuid4()}"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert {e["field"] for e in problem["errors"]} == {
        "client.first_name",
        "client.email",
        "client.language",
        "client.siret",
        "fiscal_year",
    }
    messages = {e["field"]: e["message"] for e in problem["errors"]}
    assert "checksum" in messages["client.siret"]
    assert "at most 24 months" in messages["fiscal_year"]
    assert await pool.fetchval("SELECT count(*) FROM onboardings") == before


async def test_unknown_onboarding_is_404_problem(api: httpx.AsyncClient) -> None:
    """Reading an id that does not exist answers a 404 problem document."""
    response = await api.get(f"/v1/onboardings/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/not-found")
