"""RFC 9457 problem details: every error the API returns has this shape."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.logging import redact_path, reduced_error, stack_summary
from store.errors import data_error_reason

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_bearer = HTTPBearer(auto_error=False)
TYPE_BASE = "https://onboarding.dev/problems/"


class FieldError(BaseModel):
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
        instance=request.url.path,
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
    await authenticate(get_services(request).pool, await _bearer(request))


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
        errors = [
            FieldError(field=_field_path(e.get("loc", ())), message=str(e.get("msg", "invalid")))
            for e in exc.errors()
        ]
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
