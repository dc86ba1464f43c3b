"""Booleans, dates and date-times are taken only as the schema types them (issue 20, finding 7):
`?scheduled_to=0.5` or `{"enabled": 0}` is a 422 naming the field, not a silent 1970 or false."""

from __future__ import annotations

import types
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Union, get_args, get_origin

import httpx
import pytest
from fastapi import params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BaseModel, BeforeValidator, Strict

from api.main import create_app
from core.settings import Environment, Settings
from domain import exact

_EXACT_TIME = {exact._date_time_text, exact._date_text}


def _loose(
    annotation: Any,
    metadata: list[Any],
    where: str,
    *,
    query: bool,
    seen: frozenset[type] = frozenset(),
) -> list[str]:
    """Where `annotation` (with its field `metadata`) takes a boolean, date or date-time loosely."""
    if get_origin(annotation) is Annotated:
        inner, *extra = get_args(annotation)
        return _loose(inner, [*metadata, *extra], where, query=query, seen=seen)
    if get_origin(annotation) in (Union, types.UnionType, list, tuple, set, dict):
        found: list[str] = []
        for arg in get_args(annotation):
            found += _loose(arg, metadata, where, query=query, seen=seen)
        return found
    if annotation is bool:
        strict = query or any(isinstance(m, Strict) and m.strict for m in metadata)
        return [] if strict else [where]
    if annotation in (datetime, date, AwareDatetime):
        checked = any(isinstance(m, BeforeValidator) and m.func in _EXACT_TIME for m in metadata)
        return [] if checked else [where]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:  # a recursive model (folder trees)
            return []
        walked: list[str] = []
        more: frozenset[type] = seen | {annotation}
        for name, field in annotation.model_fields.items():
            where = f"{annotation.__name__}.{name}"
            walked += _loose(field.annotation, field.metadata, where, query=query, seen=more)
        return walked
    return []


def _inputs(dependant: Dependant) -> list[tuple[Any, list[Any], str, bool]]:
    found = []
    for kind in ("path", "query", "header", "cookie", "body"):
        for param in getattr(dependant, f"{kind}_params"):
            info = param.field_info
            # Query strings and form fields are text: "true" has to be read as a boolean there.
            text = kind == "query" or isinstance(info, params.Form)
            found.append((info.annotation, list(info.metadata), param.name, text))
    for sub in dependant.dependencies:
        found += _inputs(sub)
    return found


def test_every_request_boolean_date_and_date_time_is_exact() -> None:
    """Every route's inputs, body models walked to their leaves, use domain.exact's types."""
    app = create_app(Settings(env=Environment.test))
    loose: set[str] = set()
    routes = list(app.routes)
    checked = 0
    while routes:
        route = routes.pop()
        # FastAPI keeps an included router as one entry that holds the router's own routes.
        included = getattr(route, "original_router", None)
        if included is not None:
            routes += included.routes
        if not isinstance(route, APIRoute):
            continue
        checked += 1
        for annotation, metadata, name, query in _inputs(route.dependant):
            for where in _loose(annotation, metadata, name, query=query):
                loose.add(f"{route.path}: {where}")
    assert checked > 80, checked  # every route was seen
    assert not loose, sorted(loose)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/v1/clients?scheduled_to=0.5", None, "scheduled_to"),
        ("GET", "/v1/clients?scheduled_from=1700000000", None, "scheduled_from"),
        ("POST", f"/v1/clients/{uuid.uuid4()}/notifications", {"enabled": 0}, "enabled"),
        ("POST", f"/v1/clients/{uuid.uuid4()}/notifications", {"enabled": "yes"}, "enabled"),
        ("POST", "/v1/templates", {"name": "T", "is_default": 1}, "is_default"),
        (
            "PUT",
            "/v1/billing-defaults",
            {"pay_for_new_clients": "true", "billing_period": "monthly"},
            "pay_for_new_clients",
        ),
        (
            "POST",
            "/v1/folder-trees",
            {"code": "t", "name": "T", "folders": [{"name": "F", "per_fiscal_year": 0}]},
            "per_fiscal_year",
        ),
        (
            "POST",
            "/v1/integrations",
            {
                "code": "a",
                "name": "A",
                "kind": "redirection",
                "settings": [{"name": "s", "secret": 1}],
            },
            "secret",
        ),
        (
            "POST",
            f"/v1/clients/{uuid.uuid4()}/fiscal-years",
            {"start": 0},
            "start",
        ),
        (
            "POST",
            "/v1/onboardings",
            {
                "client": {
                    "first_name": "A",
                    "last_name": "B",
                    "company_name": "C",
                    "email": "c@example.com",
                    "language": "en",
                },
                "invitation": {"mode": "scheduled", "scheduled_at": 1999999999},
            },
            "scheduled_at",
        ),
    ],
    ids=[
        "query-date-time-fraction",
        "query-date-time-unix",
        "body-boolean-zero",
        "body-boolean-yes",
        "template-is-default",
        "billing-string-true",
        "folder-tree-nested",
        "integration-setting",
        "fiscal-year-date-number",
        "invitation-date-time-number",
    ],
)
async def test_request_with_a_value_of_another_type_is_422_naming_the_field(
    api: httpx.AsyncClient, method: str, path: str, body: Any, field: str
) -> None:
    """A number or a string where the schema says boolean, date or date-time is refused."""
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    answer = await api.request(method, path, json=body, headers=headers)
    assert answer.status_code == 422, answer.text
    fields = [e["field"] for e in answer.json()["errors"]]
    assert any(f.split(".")[-1] == field for f in fields), answer.json()


async def test_request_with_exact_values_is_still_accepted(api: httpx.AsyncClient) -> None:
    """RFC 3339 date-times with an offset, and JSON booleans, pass as before."""
    listed = await api.get(
        "/v1/clients",
        params={"scheduled_from": "2026-01-01T00:00:00Z", "scheduled_to": "2026-02-01T00:00+01:00"},
    )
    assert listed.status_code == 200, listed.text
    made = await api.post("/v1/templates", json={"name": "T", "is_default": True})
    assert made.status_code == 201, made.text
    no_zone = await api.get("/v1/clients", params={"scheduled_to": "2026-01-01T00:00:00"})
    assert no_zone.status_code == 422, no_zone.text
