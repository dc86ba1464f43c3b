"""RFC 9457 problem details: every error the API returns has this shape."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import AppError
from core.logging import redact_path, reduced_error, stack_summary
from store.errors import data_error_reason

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_bearer = HTTPBearer(auto_error=False)
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


def _response(
    request: Request,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    problem = Problem(
        type=TYPE_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        # The path as logs show it: an invitation's token is a credential, never echoed back.
        instance=redact_path(request.url.path),
        errors=errors,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "client", "email") -> "client.email"; ("query", "limit") -> "limit"
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


_HTTP_SLUGS = {404: "not-found", 413: "request-too-large"}
_HTTP_TITLES = {404: "Not found", 413: "Request too large"}


def _needs_caller(dependant: Dependant) -> bool:
    from api.deps import get_caller  # below api.problems in the import graph

    return any(d.call is get_caller or _needs_caller(d) for d in dependant.dependencies)


async def _authenticate_first(request: Request) -> None:
    """Raise the 401 the route's own authentication would, if the route has any."""
    from api.deps import authenticate, get_services

    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not _needs_caller(route.dependant):
        return
    await authenticate(get_services(request), request, await _bearer(request))


def _is_database_outage(exc: BaseException) -> bool:
    """A lost or refused PostgreSQL connection (or a server shutting down), not a data error."""
    return isinstance(
        exc,
        OSError  # connection refused or reset, the host unreachable
        | asyncpg.PostgresConnectionError
        | asyncpg.CannotConnectNowError
        | asyncpg.AdminShutdownError
        | asyncpg.ConnectionDoesNotExistError,  # the connection closed under a query
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return _response(
            request,
            status=exc.status,
            slug=exc.slug,
            title=exc.title,
            detail=exc.detail,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(AppError)
    async def _refused(request: Request, exc: AppError) -> JSONResponse:
        # An application function's refusal: the same problem document whichever route called it.
        return _response(
            request,
            status=exc.status,
            slug=exc.slug,
            title=exc.title,
            detail=exc.detail,
            errors=[FieldError(field=e.field, message=e.message) for e in exc.errors] or None,
            headers={"Retry-After": str(exc.retry_after)} if exc.retry_after else None,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            # FastAPI decodes the body before it runs any dependency, so a route's own
            # authentication has not run yet: run it now, so that a caller without a key learns
            # nothing but "authenticate" (401), as for any other request.
            await _authenticate_first(request)
            return _response(
                request,
                status=400,
                slug="malformed-json",
                title="Malformed JSON",
                detail="The request body is not valid JSON.",
                errors=[FieldError(field="body", message="not valid JSON")],
            )
        # A parameter read by a route and by one of its dependencies (the invitation token, by
        # the router's failed-authentication guard) is checked, and refused, once per reader.
        errors = list(
            dict.fromkeys(
                FieldError(
                    field=_field_path(e.get("loc", ())), message=str(e.get("msg", "invalid"))
                )
                for e in exc.errors()
            )
        )
        fields = ", ".join(sorted({e.field for e in errors}))
        return _response(
            request,
            status=422,
            slug="validation-error",
            title="Invalid request",
            detail=f"Invalid field(s): {fields}",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _response(
            request,
            status=exc.status_code,
            slug=_HTTP_SLUGS.get(exc.status_code, "http-error"),
            title=_HTTP_TITLES.get(exc.status_code, str(exc.detail)),
            detail=str(exc.detail),
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if _is_database_outage(exc):
            # PostgreSQL down or restarting: a condition to wait out, not a bug. Any route that
            # touches the database answers the same, without a handler of its own.
            log.warning(
                "database unavailable",
                extra={"path": redact_path(request.url.path), "error_type": type(exc).__name__},
            )
            return _response(
                request,
                status=503,
                slug="database-unavailable",
                title="Database unavailable",
                detail="The database cannot be reached now; retry shortly (same Idempotency-Key).",
                headers={"Retry-After": "5"},
            )
        # The log gets the type, codes and where it was raised; not the message, which for a
        # driver quotes the values it refused. The client gets none of it.
        log.error(
            "unhandled error",
            extra={
                "path": redact_path(request.url.path),
                "error_type": type(exc).__name__,
                "error": data_error_reason(exc) or reduced_error(exc),
                "stack": stack_summary(exc),
            },
        )
        return _response(
            request,
            status=500,
            slug="internal-error",
            title="Internal error",
            detail="The server could not complete the request; it has been logged.",
        )


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
