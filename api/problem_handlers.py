"""The exception handlers that answer every error as an RFC 9457 problem (api/problems.py).

Kept apart from the problem types: a 400 for malformed JSON first runs the route's own
authentication (api/deps.py), and api/deps.py raises those problem types, so the handlers sit
above both and neither has to import the other.
"""

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
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import authenticate, get_caller, get_services
from api.problems import PROBLEM_MEDIA_TYPE, TYPE_BASE, FieldError, Problem, ProblemError
from app.errors import AppError, Unavailable
from core import temporal
from core.logging import redact_path, reduced_error, stack_summary
from store.errors import data_error_reason

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False)


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
    return any(d.call is get_caller or _needs_caller(d) for d in dependant.dependencies)


async def _authenticate_first(request: Request) -> None:
    """Raise the 401 the route's own authentication would, if the route has any."""
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
        return _app_error(request, exc)

    def _app_error(request: Request, exc: AppError) -> JSONResponse:
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
        if temporal.unreachable(exc):
            # Temporal down or restarting, met by a call no application function wraps (or by
            # the API's lazy client before its first connection): the same answer as theirs.
            log.warning(
                "temporal unavailable",
                extra={"path": redact_path(request.url.path), "error_type": type(exc).__name__},
            )
            return _app_error(request, Unavailable("Cannot reach Temporal now; nothing was done."))
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
