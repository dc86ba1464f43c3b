"""GET /healthz: 200 when PostgreSQL and Temporal answer, 503 naming what is down, and healing."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from api.deps import Services
from api.main import create_app
from core import temporal
from core.settings import Settings
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from devstack.serving import serve_app as serve
from store.migrate import apply_migrations
from store.pool import Pool, create_pool
from tests.factories import make_tenant


async def test_health_ok_when_everything_answers(
    settings: Settings, pool: Pool, client: Client
) -> None:
    """Both components up: 200 and each named ok."""
    app = create_app(settings, services=Services(settings=settings, pool=pool, temporal=client))
    async with serve(app) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "components": {"postgres": "ok", "temporal": "ok", "temporal_namespace": "ok"},
    }


async def test_health_names_temporal_when_it_is_down(settings: Settings, pool: Pool) -> None:
    """Nothing listening at the Temporal address: 503 problem naming temporal, postgres ok."""
    down = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    unreachable = await temporal.connect(down, lazy=True)
    app = create_app(down, services=Services(settings=down, pool=pool, temporal=unreachable))
    async with serve(app) as http:
        response = await http.get("/healthz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["detail"] == "Down: temporal"
    assert body["components"]["postgres"] == "ok"


async def test_health_reports_postgres_down_then_heals(
    settings: Settings, client: Client, spare_postgres: EmbeddedPostgres
) -> None:
    """PostgreSQL stopped: 503 naming postgres; started again: 200 without restarting the API."""
    server = spare_postgres
    pool = await create_pool(server.dsn(), min_size=2, max_size=4)
    try:
        app = create_app(settings, services=Services(settings=settings, pool=pool, temporal=client))
        async with serve(app) as http:
            assert (await http.get("/healthz")).status_code == 200

            await asyncio.to_thread(server.stop)
            response = await http.get("/healthz")
            assert response.status_code == 503
            assert response.json()["detail"] == "Down: postgres"
            assert response.json()["components"]["temporal"] == "ok"

            await asyncio.to_thread(server.start)
            healed = await http.get("/healthz")
            assert healed.status_code == 200, healed.text
    finally:
        await pool.close()


async def test_routes_answer_503_while_postgres_is_down(
    settings: Settings, client: Client, spare_postgres: EmbeddedPostgres
) -> None:
    """Any route that needs the database answers 503 with Retry-After while it is down (never a
    500), and works again once it is back."""
    server = spare_postgres
    await apply_migrations(server.dsn())
    pool = await create_pool(server.dsn(), min_size=1, max_size=4)
    try:
        tenant = await make_tenant(pool)
        app = create_app(settings, services=Services(settings=settings, pool=pool, temporal=client))
        async with serve(app) as http:
            http.headers.update(tenant.auth)
            assert (await http.get("/v1/onboardings")).status_code == 200

            await asyncio.to_thread(server.stop)
            for path in ("/v1/onboardings", "/v1/templates", "/v1/me"):
                response = await http.get(path)
                assert response.status_code == 503, (path, response.text)
                assert response.json()["type"].endswith("/database-unavailable")
                assert response.headers["Retry-After"]

            await asyncio.to_thread(server.start)
            assert (await http.get("/v1/onboardings")).status_code == 200
    finally:
        await pool.close()
