"""Path and query parameters of text type hold storable text (domain/text.py): a NUL or a lone
surrogate is a 422 naming the parameter, never a 500 from PostgreSQL, and never a log line
carrying the raw value. One guard walks every route so a new parameter cannot miss the rule."""

from __future__ import annotations

import logging
import types
import typing
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic.fields import FieldInfo

from api.main import create_app
from core.settings import Environment, Settings
from domain.text import storable

PLAN = {"code": "abcd", "name": "Plan"}
INTEGRATION = {"code": "abcd", "name": "App", "kind": "redirection"}
TREE = {"code": "abcd", "name": "Tree"}


@pytest.mark.parametrize(
    ("method", "path", "body", "name"),
    [
        ("GET", "/v1/plans/ab%00cd", None, "code"),
        ("PUT", "/v1/plans/ab%00cd", PLAN, "code"),
        ("DELETE", "/v1/plans/ab%00cd", None, "code"),
        ("GET", "/v1/integrations/ab%00cd", None, "code"),
        ("PUT", "/v1/integrations/ab%00cd", INTEGRATION, "code"),
        ("DELETE", "/v1/integrations/ab%00cd", None, "code"),
        ("GET", "/v1/folder-trees/ab%00cd", None, "code"),
        ("PUT", "/v1/folder-trees/ab%00cd", TREE, "code"),
        ("DELETE", "/v1/folder-trees/ab%00cd", None, "code"),
        ("GET", "/v1/onboardings?stuck_for=P%00D", None, "stuck_for"),
        ("GET", "/v1/invitations/ab%00cd.ef", None, "token"),
        ("POST", "/v1/invitations/ab%00cd.ef/accept", None, "token"),
        ("GET", "/v1/invitations/ab%00cd.ef/checklist", None, "token"),
    ],
)
async def test_nul_in_a_text_parameter_is_422_naming_it_and_never_logged(
    api: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    name: str,
) -> None:
    """A NUL in a `{code}`, a token or a text query parameter: 422 problem naming the parameter
    (PostgreSQL refuses NUL: it was a 500), and no log record holds the raw character."""
    caplog.set_level(logging.DEBUG)
    answer = await api.request(method, path, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == [name]
    assert "NUL" in answer.json()["errors"][0]["message"]
    for record in caplog.records:
        assert "\x00" not in record.getMessage() + repr(vars(record)), record.name


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI >= 0.16x)
            yield from _routes(route.original_router.routes)


def _parameters(dependant: Dependant) -> Iterator[tuple[str, FieldInfo]]:
    for param in [*dependant.path_params, *dependant.query_params]:
        yield param.name, param.field_info
    for sub in dependant.dependencies:
        yield from _parameters(sub)


def _is_text(annotation: Any) -> bool:
    """str, Optional[str] or Annotated[str, ...] (bare or optional)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _is_text(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_text(a) for a in typing.get_args(annotation) if a is not type(None))
    return annotation is str


def _checks_storable(field: FieldInfo) -> bool:
    """The storable-text validator is on the parameter (FastAPI keeps Annotated metadata on the
    FieldInfo, or inside an optional's Annotated)."""

    def found(metadata: list[Any]) -> bool:
        return any(getattr(m, "func", None) is storable for m in metadata)

    def inner(annotation: Any) -> bool:
        if typing.get_origin(annotation) is typing.Annotated:
            return found(list(annotation.__metadata__)) or inner(typing.get_args(annotation)[0])
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            return any(inner(a) for a in typing.get_args(annotation))
        return False

    return found(field.metadata) or inner(field.annotation)


def test_every_text_path_and_query_parameter_is_storable_text() -> None:
    """Walks every route of the app: a str path or query parameter without domain.text's rule
    (use `Text`, or api.params' types) fails here, before a NUL can reach PostgreSQL."""
    app = create_app(Settings(env=Environment.test))
    text_parameters: list[str] = []
    missing: list[str] = []
    for route in _routes(app.routes):
        for name, field in _parameters(route.dependant):
            if not _is_text(field.annotation):
                continue
            where = f"{','.join(sorted(route.methods or ()))} {route.path} {name}"
            text_parameters.append(where)
            if not _checks_storable(field):
                missing.append(where)
    assert len(text_parameters) > 10, text_parameters  # the walk found the routes
    assert missing == []
