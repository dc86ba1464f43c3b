"""GET /healthz: PostgreSQL and Temporal, each pinged, and the Temporal namespace checked for
this release's search attributes; 503 names what is down (the readiness probe)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import ServicesDep
from api.problems import PROBLEM_MEDIA_TYPE, TYPE_BASE, problem_responses
from core import namespace, temporal
from store import pool as store_pool

router = APIRouter(tags=["health"])

PING_TIMEOUT = 3.0


class Health(BaseModel):
    status: Literal["ok", "down"]
    components: dict[str, str]


async def _check_namespace(services: ServicesDep) -> tuple[str, list[namespace.MissingAttribute]]:
    """The namespace's search attributes. Not being able to ask (Temporal down: its own
    component says so; a Cloud API key without the right to list) leaves it unchecked, not down:
    only an answer lacking an attribute refuses readiness."""
    try:
        missing = await asyncio.wait_for(
            namespace.check(services.temporal, process="api"), PING_TIMEOUT
        )
    except Exception as exc:
        return f"unchecked: {type(exc).__name__}", []
    if not missing:
        return "ok", []
    names = ", ".join(attribute.name for attribute in missing)
    return f"down: lacks the search attribute(s) {names}", missing


async def _check(name: str, ping: asyncio.Future[None] | asyncio.Task[None]) -> tuple[str, str]:
    try:
        await asyncio.wait_for(ping, PING_TIMEOUT)
    except Exception as exc:  # every failure means the component is down; say which and why
        return name, f"down: {type(exc).__name__}: {exc}"[:300]
    return name, "ok"


@router.get("/healthz", response_model=Health, responses=problem_responses(503))
async def read_health(services: ServicesDep) -> JSONResponse:
    """Ping PostgreSQL and Temporal and check the namespace; 200 when all are fine, 503 naming
    the ones that are not (and the command that adds a missing search attribute)."""
    results = await asyncio.gather(
        _check("postgres", asyncio.ensure_future(store_pool.ping(services.pool))),
        _check("temporal", asyncio.ensure_future(temporal.ping(services.temporal))),
    )
    components = dict(results)
    components["temporal_namespace"], missing = await _check_namespace(services)
    down = sorted(name for name, state in components.items() if state.startswith("down"))
    if not down:
        return JSONResponse(Health(status="ok", components=components).model_dump())
    detail = f"Down: {', '.join(down)}"
    if missing:
        # The fix, where the operator looks first: the probe's answer.
        detail += "; add the missing search attributes: " + "; ".join(
            attribute.command for attribute in missing
        )
    return JSONResponse(
        {
            "type": TYPE_BASE + "dependency-down",
            "title": "Service unavailable",
            "status": 503,
            "detail": detail,
            "instance": "/healthz",
            "components": components,
            "missing_search_attributes": [
                {"name": a.name, "type": a.type, "command": a.command} for a in missing
            ],
        },
        status_code=503,
        media_type=PROBLEM_MEDIA_TYPE,
    )
