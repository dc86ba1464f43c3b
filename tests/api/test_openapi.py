"""The OpenAPI document tells the truth about errors and shapes (what schemathesis relies on),
and the answers found by the fuzzer to break it stay fixed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.main import create_app
from api.problems import PROBLEM_MEDIA_TYPE, Problem
from core.settings import Environment, Settings
from domain.email import URL_MAX_LENGTH, Branding

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings(env=Environment.test)).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_error_response_is_documented_as_a_problem(document: dict[str, Any]) -> None:
    """Each 4xx/5xx of each operation is application/problem+json with the Problem schema;
    FastAPI's own 422 shape appears nowhere."""
    checked = 0
    for name, operation in _operations(document):
        for code, response in operation["responses"].items():
            if int(code) < 400:
                continue
            assert response["content"] == {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}, name
            checked += 1
    assert checked > 100
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["Problem"]["required"] == ["type", "title", "status", "detail"]
    assert "FieldError" in schemas  # what Problem.errors points at


def test_operations_document_the_problems_their_construction_implies(
    document: dict[str, Any],
) -> None:
    """API-key operations say 401 and 429; operations with a body say 400, 413 and 422; any
    operation with parameters says 422."""
    for name, operation in _operations(document):
        codes = set(operation["responses"])
        if operation.get("security"):
            assert {"401", "429"} <= codes, name
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= codes, name
        if operation.get("parameters"):
            assert "422" in codes, name


def test_routes_document_their_own_problems(document: dict[str, Any]) -> None:
    """Statuses only the route knows: 403 for configurers' routes, 404 for one resource,
    409 for conflicts, 503 where Temporal is called."""
    paths = document["paths"]
    assert {"403", "409"} <= set(paths["/v1/plans"]["post"]["responses"])
    assert {"404", "503"} <= set(paths["/v1/onboardings/{onboarding_id}"]["get"]["responses"])
    send = paths["/v1/onboardings/{onboarding_id}/invitation/send"]["post"]["responses"]
    assert {"404", "409", "503"} <= set(send)
    assert {"404", "410"} <= set(paths["/v1/invitations/{token}"]["get"]["responses"])
    assert "503" in paths["/healthz"]["get"]["responses"]
    codec = paths["/codec/decode"]["post"]["responses"]
    assert {"400", "401", "403", "503"} <= set(codec)


async def test_problem_answers_match_the_documented_schema(api: httpx.AsyncClient) -> None:
    """A real 404, 422 and 400 carry the documented media type and validate as Problem."""
    answers = [
        await api.get("/v1/plans/nope"),
        await api.get("/v1/plans", params={"limit": 0}),
        await api.post("/v1/plans", content=b"{", headers={"Content-Type": "application/json"}),
    ]
    assert [a.status_code for a in answers] == [404, 422, 400]
    for answer in answers:
        assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
        Problem.model_validate(answer.json())


async def test_branding_logo_url_round_trips_within_its_schema(
    api: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    """Found by schemathesis: a bare-host logo_url of 2083 characters came back with a "/"
    added (2084), longer than the documented maxLength. Now the normalised form is what is
    bounded (422 naming logo_url), and what PUT answers is what GET answers."""
    host = "https://" + "a" * 59 + "."
    too_long = host + ".".join(["a" * 63] * 40)
    too_long = too_long[:URL_MAX_LENGTH].rstrip(".")
    too_long += "a" * (URL_MAX_LENGTH - len(too_long))
    assert len(too_long) == URL_MAX_LENGTH
    refused = await api.put("/v1/branding", json={"display_name": "Cabinet", "logo_url": too_long})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert [e["field"] for e in refused.json()["errors"]] == ["logo_url"]

    body = {"display_name": "Cabinet", "logo_url": "https://cdn.example.com", "colour": "#aa0000"}
    put = await api.put("/v1/branding", json=body)
    assert put.status_code == 200, put.text
    got = await api.get("/v1/branding")
    assert got.status_code == 200
    assert got.json() == put.json()
    assert put.json()["logo_url"] == "https://cdn.example.com/"  # normalised, and said so
    declared = document["components"]["schemas"]["Branding"]["properties"]["logo_url"]
    lengths = [b.get("maxLength") for b in declared["anyOf"] if b.get("type") == "string"]
    assert lengths == [URL_MAX_LENGTH]
    Branding.model_validate(got.json())
