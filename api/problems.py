"""RFC 9457 problem details: every error the API returns has this shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://onboarding.dev/problems/"


class FieldError(BaseModel, frozen=True):
    field: str
    message: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise from a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers


# ---- OpenAPI: what the document promises about errors --------------------------------------------

_PROBLEM_REF = "#/components/schemas/Problem"
_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
_PROBLEM_DESCRIPTIONS = {
    400: "Malformed request: the body is not JSON, or not a readable form",
    401: "No API key, or an unknown or revoked one",
    403: "The caller's role may not do this",
    404: "No such resource for this partner",
    409: "Not possible in the resource's current state",
    410: "Gone: expired",
    413: "The request body is over the size limit",
    422: "Invalid field(s), each named in `errors`",
    429: "Too many requests for this API key (see RateLimit-*), or too many failed "
    "authentications from this address: see Retry-After",
    503: "A dependency (Temporal, PostgreSQL) cannot be reached now: retry later",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses: each a problem document.

    For `APIRouter(responses=...)` or a route's `responses=`; `document_problems` adds the ones
    every route of a kind shares (authentication, rate limit, body and parameter validation).
    """
    return {
        code: {
            "description": _PROBLEM_DESCRIPTIONS[code],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}},
        }
        for code in codes
    }


def _implied_codes(operation: dict[str, Any]) -> list[int]:
    """The problem statuses an operation can answer because of how it is built, read from its
    own OpenAPI entry (so a route added tomorrow is covered without a word)."""
    codes: list[int] = []
    if operation.get("security"):
        # The API-key scheme is api.deps.get_caller: authentication, then the key's rate limit.
        codes += [401, 429]
    if "requestBody" in operation:
        codes += [400, 413, 422]  # malformed body, api.body_limit, validation
    elif operation.get("parameters"):
        codes.append(422)
    return codes


def document_problems(app: FastAPI) -> None:
    """Make the app's OpenAPI document say what its errors really are.

    FastAPI documents a 422 with its own `HTTPValidationError` shape as `application/json`, and
    nothing else; this API answers every error as an RFC 9457 problem (`install` above). So the
    generated document is corrected once, at the source: every 422 becomes a problem, each route
    gains the problem responses its construction implies, and the `Problem` schema is published.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        paths = schema.get("paths", {})
        implied = problem_responses(*_PROBLEM_DESCRIPTIONS)
        for path_item in paths.values():
            for method, operation in path_item.items():
                if method not in _METHODS:
                    continue
                responses = operation.setdefault("responses", {})
                for code in _implied_codes(operation):
                    responses.setdefault(str(code), implied[code])
                if "422" in responses:
                    responses["422"] = implied[422]
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem.pop("$defs", {}))
        components["Problem"] = problem
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
