"""The registry rate benchmark: a bulk import through the real API, workflows and worker, against
the registry stand-in enforcing its 7 requests/s.

Issue 6's target: a 500-row import makes no request over the limit (no 429) and keeps the lookup
rate at 90% of the limit or more; issue 12's: 95% with one registry worker, and 90% for the `fleet`
variant, where the same import runs through worker processes of their own (3 `--role registry`,
2 `--role main`) sharing the fleet-wide limiter in PostgreSQL. Every figure is taken where it
matters, at the stand-in: how many requests it got, how many it refused, the most it saw in any
one-second window, and when the first and the last arrived, which give the achieved rate side by
side with the limit.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from activities.registry import RegistryConfig, build_registry_client
from api.deps import Services
from bench.processes import Processes, settings_env, wait_worker_polling
from bench.report import Figure
from bench.stack import StandinProcess, api_server, postgres_database, registry_standin, smtp_sink
from core import temporal
from core.settings import Environment, Settings
from devstack.registry_standin import RATE_LIMIT_PER_SECOND
from devstack.synthetic_companies import head_office_siret, synthetic_units
from store import partners
from store.pool import create_pool
from worker.main import build_workers, running

log = logging.getLogger(__name__)

TARGET_RATIO = 0.95  # one registry worker
FLEET_TARGET_RATIO = 0.90  # three registry worker processes
HEADERS = ["First name", "Last name", "E-mail", "Language", "Company", "SIRET"]


@dataclass
class RateOutcome:
    rows: int
    limit: float
    bench: str = "rate"
    target_ratio: float = TARGET_RATIO
    processes: dict[str, int] = field(default_factory=dict)  # role -> worker processes
    import_seconds: float = 0.0
    done: bool = False
    progress: dict[str, Any] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    standin: dict[str, Any] = field(default_factory=dict)
    # Rows setting up, sampled at every poll: well under the window means the window is not
    # what paces the import.
    in_flight_samples: list[int] = field(default_factory=list)
    window: int = 0  # the API's (settings.import_window)

    @property
    def mean_in_flight(self) -> float | None:
        samples = self.in_flight_samples
        return sum(samples) / len(samples) if samples else None

    @property
    def requests(self) -> int:
        return int(self.standin.get("total_requests", 0))

    @property
    def refused(self) -> int:
        return int(self.standin.get("rate_limited", 0))

    @property
    def lookups(self) -> int:
        """Requests the stand-in answered (refused ones are not lookups)."""
        return self.requests - self.refused

    @property
    def span_seconds(self) -> float | None:
        first, last = self.standin.get("first_request_at"), self.standin.get("last_request_at")
        if first is None or last is None or last <= first:
            return None
        return float(last) - float(first)

    @property
    def rate(self) -> float | None:
        """Lookups per second from the first request to the last: n lookups span n - 1 gaps."""
        span = self.span_seconds
        return (self.lookups - 1) / span if span and self.lookups > 1 else None

    def figures(self) -> list[Figure]:
        rate = self.rate
        ratio = rate / self.limit if rate is not None else None
        settled = sum(
            int(self.progress.get("counts", {}).get(k, 0))
            for k in ("ready", "waiting_for_input", "failed")
        )
        bench = self.bench
        return [
            Figure(
                bench,
                "rows settled (import done)",
                settled,
                "rows",
                f"= {self.rows}",
                self.done and settled == self.rows,
            ),
            Figure(
                bench, "429 received by the registry", self.refused, "", "= 0", self.refused == 0
            ),
            Figure(bench, "lookups answered", self.lookups, "", f"= {self.rows}", None),
            Figure(
                bench,
                "max requests in any 1 s window",
                int(self.standin.get("max_requests_per_window", 0)),
                "",
                f"<= {self.limit:g}",
                int(self.standin.get("max_requests_per_window", 0)) <= self.limit,
            ),
            Figure(bench, "lookup rate", rate, "/s", f"limit {self.limit:g}/s", None),
            Figure(
                bench,
                "lookup rate / limit",
                ratio,
                "",
                f">= {self.target_ratio:.2f}",
                ratio is not None and ratio >= self.target_ratio,
            ),
            Figure(bench, "first to last lookup", self.span_seconds, "s", "", None),
            Figure(
                bench,
                "rows setting up at once, mean",
                self.mean_in_flight,
                "",
                f"window {self.window}",
                None,
            ),
            Figure(bench, "import, POST to done", self.import_seconds, "s", "", None),
        ]

    def details(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "limit_per_second": self.limit,
            "done": self.done,
            "import_seconds": round(self.import_seconds, 3),
            "lookups": self.lookups,
            "rate_per_second": self.rate,
            "progress": self.progress,
            "mean_in_flight": self.mean_in_flight,
            "window": self.window,
            "onboardings_by_status": self.by_status,
            "standin": self.standin,
            "worker_processes": self.processes,
        }


def client_file(rows: int) -> bytes:
    """A CSV as a firm would send it: one client per synthetic company, all distinct."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for index, unit in enumerate(synthetic_units(rows)):
        writer.writerow(
            [
                "Camille",
                f"Client {index:05d}",
                f"direction{index:05d}@bench.example",
                "fr",
                unit["nom_raison_sociale"],
                head_office_siret(unit),
            ]
        )
    return buffer.getvalue().encode()


async def _follow(
    api: httpx.AsyncClient,
    standin: StandinProcess,
    import_id: str,
    *,
    outcome: RateOutcome,
    deadline: float,
    progress_every: float,
) -> dict[str, Any]:
    """Poll the import until done (or the deadline), logging a progress line now and then."""
    started = last_line = time.monotonic()
    last_lookups = 0
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            body = (await api.get(f"/v1/imports/{import_id}")).json()
        except httpx.TimeoutException:
            # The API shares this process's event loop with the worker: a busy moment, not an
            # end. Ask again.
            continue
        progress = body.get("progress") or {}
        if progress and not progress.get("done"):
            outcome.in_flight_samples.append(int(progress.get("in_flight", 0)))
        now = time.monotonic()
        if progress.get("done") or now - last_line >= progress_every:
            stats = await standin.stats()
            lookups = int(stats["total_requests"]) - int(stats["rate_limited"])
            counts = progress.get("counts", {})
            settled = sum(counts.get(k, 0) for k in ("ready", "waiting_for_input", "failed"))
            log.info(
                "rate bench progress",
                extra={
                    "elapsed_s": round(now - started, 1),
                    "settled": f"{settled}/{outcome.rows}",
                    "started": counts.get("started", 0),
                    "in_flight": progress.get("in_flight", 0),
                    "lookups": lookups,
                    "rate_now": f"{(lookups - last_lookups) / max(now - last_line, 1e-9):.2f}/s",
                    "refused_429": stats["rate_limited"],
                },
            )
            last_line, last_lookups = now, lookups
        if progress.get("done"):
            return body
        await asyncio.sleep(0.5)
    log.warning("rate bench: import not done before the deadline", extra={"last": body})
    return body


async def run(
    env: WorkflowEnvironment,
    *,
    rows: int,
    progress_every: float,
    registry_processes: int = 0,
    main_processes: int = 0,
) -> RateOutcome:
    """Start PostgreSQL, the SMTP sink, the stand-in, the worker and the API; import `rows`
    rows; measure; stop everything. With `registry_processes` (and `main_processes`), the
    workers are `onboarding worker --role registry|main` processes instead of this one."""
    limit = RATE_LIMIT_PER_SECOND
    fleet = registry_processes > 0
    outcome = RateOutcome(
        rows=rows,
        limit=limit,
        bench="fleet" if registry_processes > 1 else "rate",
        target_ratio=FLEET_TARGET_RATIO if registry_processes > 1 else TARGET_RATIO,
        processes={"registry": registry_processes, "main": main_processes} if fleet else {},
    )
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="onboarding-bench-") as scratch:
        async with (
            postgres_database() as dsn,
            smtp_sink() as sink,
            registry_standin(
                companies=rows, rate_limit=limit, log_path=Path(scratch) / "registry.log"
            ) as standin,
        ):
            settings = Settings(
                env=Environment.test,
                database_url=dsn,
                temporal_address=env.client.service_client.config.target_host,
                task_queue=queue,
                registry_task_queue=f"{queue}-registry",
                registry_base_url=standin.url,
                smtp_host=sink.host,
                smtp_port=sink.port,
            )
            outcome.window = settings.import_window
            pool = await create_pool(dsn, min_size=1, max_size=settings.database_pool_max + 10)
            try:
                client = await temporal.connect(settings)
                firm, _, key = await partners.create_partner(
                    pool, name="Cabinet Bench", admin_email="bench@bench.example", admin_name="B"
                )
                # Measured to READY with the invitation sent: the setup's unmute, not a new firm's
                # muting default.
                await partners.set_new_clients_muted(pool, partner_id=firm.id, muted=False)
                log.info(
                    "rate bench: stack ready",
                    extra={
                        "rows": rows,
                        "limit": limit,
                        "worker_limit": settings.registry_rate_limit,
                    },
                )
                processes = Processes(settings_env(settings), Path(scratch))
                async with httpx.AsyncClient() as http, AsyncExitStack() as stack:
                    stack.callback(processes.stop_all)
                    if fleet:
                        started = [processes.worker("registry") for _ in range(registry_processes)]
                        started += [processes.worker("main") for _ in range(main_processes)]
                        for child in started:
                            await wait_worker_polling(child)
                    else:
                        # The fleet pacer in PostgreSQL, as every worker process has it.
                        registry = build_registry_client(
                            RegistryConfig.from_settings(settings), http=http, pool=pool
                        )
                        workers = build_workers(
                            client, pool=pool, settings=settings, http=http, registry=registry
                        )
                        await stack.enter_async_context(running(workers))
                    services = Services(settings=settings, pool=pool, temporal=client)
                    async with api_server(services) as api:
                        api.headers["Authorization"] = f"Bearer {key}"
                        await standin.reset()
                        posted = time.monotonic()
                        response = await api.post(
                            "/v1/imports",
                            files={"file": ("clients.csv", client_file(rows), "text/csv")},
                            data={"invitation_mode": "manual"},
                        )
                        if response.status_code != 202:
                            raise RuntimeError(
                                f"import refused: {response.status_code} {response.text}"
                            )
                        accepted = response.json()
                        if accepted["valid"] != rows:
                            raise RuntimeError(f"rows refused by the API: {accepted['errors'][:5]}")
                        # Twice the ideal duration at the limit, and a minute's slack.
                        deadline = posted + 2 * rows / limit + 60
                        body = await _follow(
                            api,
                            standin,
                            accepted["id"],
                            outcome=outcome,
                            deadline=deadline,
                            progress_every=progress_every,
                        )
                        outcome.import_seconds = time.monotonic() - posted
                        outcome.progress = body.get("progress") or {}
                        outcome.done = bool(outcome.progress.get("done"))
                        outcome.by_status = body.get("onboardings_by_status", {})
                        outcome.standin = await standin.stats()
            finally:
                await pool.close()
    return outcome
