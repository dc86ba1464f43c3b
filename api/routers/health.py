"""GET /healthz: PostgreSQL and Temporal, each pinged; 503 names what is down."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import ServicesDep
from api.problems import PROBLEM_MEDIA_TYPE, TYPE_BASE, problem_responses
from core import temporal
from store import pool as store_pool

router = APIRouter(tags=["health"])

PING_TIMEOUT = 3.0


class Health(BaseModel):
    status: Literal["ok", "down"]
    components: dict[str, str]


async def _check(name: str, ping: asyncio.Future[None] | asyncio.Task[None]) -> tuple[str, str]:
    try:
        await asyncio.wait_for(ping, PING_TIMEOUT)
    except Exception as exc:  # every failure means the component is down; say which and why
        return name, f"down: {type(exc).__name__}: {exc}"[:300]
    return name, "ok"


@router.get("/healthz", response_model=Health, responses=problem_responses(503))
async def read_health(services: ServicesDep) -> JSONResponse:
    """Ping PostgreSQL and Temporal; 200 when both answer, 503 naming the ones that do not."""
    results = await asyncio.gather(
        _check("postgres", asyncio.ensure_future(store_pool.ping(services.pool))),
        _check("temporal", asyncio.ensure_future(temporal.ping(services.temporal))),
    )
    components = dict(results)
    down = sorted(name for name, state in components.items() if state != "ok")
    if not down:
        return JSONResponse(Health(status="ok", components=components).model_dump())
    return JSONResponse(
        {
            "type": TYPE_BASE + "dependency-down",
            "title": "Service unavailable",
            "status": 503,
            "detail": f"Down: {', '.join(down)}",
            "instance": "/healthz",
            "components": components,
        },
        status_code=503,
        media_type=PROBLEM_MEDIA_TYPE,
    )
