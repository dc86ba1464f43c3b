"""The stack of the process benchmarks (throughput, latency, memory, fleet): PostgreSQL, the SMTP
sink and (when asked) the registry stand-in started here as in stack.py, a partner and its API key,
and worker and API processes of their own started on demand, every one stopped on exit."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.processes import Processes, settings_env
from bench.stack import StandinProcess, postgres_database, registry_standin, smtp_sink
from core import temporal
from core.settings import Environment, Settings
from devstack.ports import free_port
from devstack.smtp_sink import SmtpSink
from store import partners
from store.pool import Pool, create_pool

log = logging.getLogger(__name__)


@dataclass
class ProcessStack:
    settings: Settings
    pool: Pool
    client: Client
    processes: Processes
    sink: SmtpSink
    standin: StandinProcess | None
    api_key: str
    scratch: Path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    async def api(self) -> tuple[str, int]:
        """An API process on a free port; its URL and pid."""
        child = await self.processes.api(free_port())
        assert child.url is not None
        return child.url, child.pid


@asynccontextmanager
async def process_stack(
    env: WorkflowEnvironment, *, registry_companies: int | None = None
) -> AsyncIterator[ProcessStack]:
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="onboarding-bench-") as directory:
        scratch = Path(directory)
        async with AsyncExitStack() as stack:
            dsn = await stack.enter_async_context(postgres_database())
            sink = await stack.enter_async_context(smtp_sink())
            standin = None
            if registry_companies is not None:
                standin = await stack.enter_async_context(
                    registry_standin(
                        companies=registry_companies,
                        rate_limit=7,
                        log_path=scratch / "registry.log",
                    )
                )
            settings = Settings(
                env=Environment.test,
                database_url=dsn,
                temporal_address=env.client.service_client.config.target_host,
                task_queue=queue,
                registry_task_queue=f"{queue}-registry",
                smtp_host=sink.host,
                smtp_port=sink.port,
            )
            if standin is not None:
                settings = settings.model_copy(update={"registry_base_url": standin.url})
            pool = await create_pool(dsn, min_size=1, max_size=10)
            stack.push_async_callback(pool.close)
            client = await temporal.connect(settings)
            firm, _, key = await partners.create_partner(
                pool, name="Cabinet Bench", admin_email="bench@bench.example", admin_name="B"
            )
            # Measured to READY with the invitation sent: the setup's unmute, not a new firm's
            # muting default.
            await partners.set_new_clients_muted(pool, partner_id=firm.id, muted=False)
            # The per-API-key limit (20/s, bursts of 40) would answer 429 to a batch started 20 at
            # once: these benches measure the create path and the workflows, not that limiter.
            env_vars = settings_env(
                settings,
                ONBOARDING_API_RATE_LIMIT_PER_SECOND="100000",
                ONBOARDING_API_RATE_LIMIT_BURST="100000",
            )
            processes = Processes(env_vars, scratch)
            try:
                yield ProcessStack(settings, pool, client, processes, sink, standin, key, scratch)
            except BaseException:
                log.warning("bench processes' last lines:\n%s", processes.tails())
                raise
            finally:
                await asyncio.to_thread(processes.stop_all)


def onboarding_body(
    index: int, *, mode: str = "manual", siret: str | None = None
) -> dict[str, Any]:
    """A POST /v1/onboardings body: no SIRET (no registry) unless given."""
    client: dict[str, Any] = {
        "first_name": "Camille",
        "last_name": f"Client {index:05d}",
        "email": f"direction{index:05d}@bench.example",
        "language": "fr",
        "company_name": f"Société {index:05d}",
    }
    if siret:
        client["siret"] = siret
    return {"client": client, "invitation": {"mode": mode}}


async def post_onboardings(
    http: httpx.AsyncClient, bodies: Iterable[dict[str, Any]], *, concurrency: int
) -> tuple[list[str], list[float]]:
    """POST each body (its own Idempotency-Key), `concurrency` at once: ids and latencies (s)."""
    ids: list[str] = []
    latencies: list[float] = []
    queue = list(bodies)
    slots = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with slots:
            started = time.perf_counter()
            response = await http.post(
                "/v1/onboardings", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
            )
            latencies.append(time.perf_counter() - started)
            if response.status_code != 202:
                raise RuntimeError(f"POST refused: {response.status_code} {response.text[:300]}")
            ids.append(response.json()["id"])

    await asyncio.gather(*(one(b) for b in queue))
    return ids, latencies


async def wait_statuses(
    pool: Pool, ids: list[str], statuses: tuple[str, ...], *, within: float, every: float = 0.1
) -> int:
    """Until every onboarding of `ids` is in one of `statuses`, for `within` s at most: how many."""
    wanted = [uuid.UUID(i) for i in ids]
    deadline = time.monotonic() + within
    done = 0
    while time.monotonic() < deadline:
        done = int(
            await pool.fetchval(
                "SELECT count(*) FROM onboardings WHERE id = ANY($1::uuid[]) AND status = ANY($2)",
                wanted,
                list(statuses),
            )
        )
        if done == len(wanted):
            return done
        await asyncio.sleep(every)
    return done


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of `values`, None for none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]
