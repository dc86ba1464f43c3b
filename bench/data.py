"""The data-scale benchmark (issue 25): a production-size database, then every list, search,
page and scrape measured through the real API.

The database is filled by SQL alone (`INSERT … SELECT generate_series`, one statement per table,
triggers and foreign-key checks off for the fill only): at scale 1, 1,000,000 clients over 200
partners (one holding 200,000), 1,500,000 onboardings in every status with realistic ages of
their status, 5,000,000 e-mail log rows and 5,000,000 webhook attempts. Then the API (uvicorn,
in this process, over the same Temporal dev server as the other benches) answers each call
`calls` times, one at a time, as the big partner's administrator (API key) or signed-in
console user; p50/p95/p99 of each are the figures.

Targets at scale 1: every list and search p95 <= 50 ms, every page p95 <= 100 ms, a metrics
scrape p95 <= 100 ms (read afresh every time: the cache of api/metrics.py would otherwise be
what is measured).
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment

from api.console import cookie_name
from api.deps import Services
from app.sign_in import digest
from bench.procstack import quantile
from bench.report import Figure
from bench.stack import api_server, postgres_database
from core import temporal
from core.settings import Environment, Settings
from store import console, partners, webhooks
from store.pool import create_pool

log = logging.getLogger(__name__)

LIST_TARGET_MS = 50.0
PAGE_TARGET_MS = 100.0
METRICS_TARGET_MS = 100.0

CLIENTS = 1_000_000
ONBOARDINGS = 1_500_000
PARTNERS = 200
BIG_SHARE = 5  # one onboarding in 5 is the big partner's: 200,000 clients of 1,000,000
EMAILS = 5_000_000
ATTEMPTS = 5_000_000
ENDPOINTS = 1_000
CASE_MANAGERS = ("Ada", "Bruno", "Chloé", "David", "Emma", "Farid", "Gaëlle", "Hugo")
TAGS = ("vip", "tva-mensuelle", "bnc", "sci", "lmnp", "export", "agricole", "holding")


@dataclass(frozen=True)
class Sizes:
    clients: int
    onboardings: int
    partners: int
    emails: int
    attempts: int
    endpoints: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        def n(full: int, least: int) -> int:
            return max(least, round(full * scale))

        return cls(
            clients=n(CLIENTS, 1000),
            onboardings=n(ONBOARDINGS, 1500),
            partners=max(5, min(PARTNERS, n(PARTNERS, 5))),
            emails=n(EMAILS, 5000),
            attempts=n(ATTEMPTS, 5000),
            endpoints=max(10, n(ENDPOINTS, 10)),
        )


def _array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


# Each statement fills one table from generate_series; $1 is the big partner's id. Row i's
# values are functions of i (hashtext for spread), so a run is reproducible. Onboarding i of the
# first `clients` has client i. Partner of row i: the big one for i % 5 = 0, else one of the
# others (id from md5, made first).
def _fill_statements(sizes: Sizes) -> list[tuple[str, str, int]]:
    others = sizes.partners - 1
    partner_of = (
        f"CASE WHEN i % {BIG_SHARE} = 0 THEN $1::uuid ELSE md5('p' || (i % {others}))::uuid END"
    )
    managers, tags = _array(CASE_MANAGERS), _array(TAGS)
    # Statuses: onboardings with a client are past setup; the others are still setting up,
    # waiting for company details, in trouble or failed. Ages by status, as in production:
    # finished ones old, running ones mostly minutes, a tail stuck for days.
    with_client = (
        "(ARRAY['COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','READY','READY',"
        "'WAITING_FOR_UNMUTE','NEEDS_ATTENTION','COMPLETED'])[1 + pg_temp.h('s', i) % 10]"
    )
    without_client = (
        "(ARRAY['SETTING_UP','SETTING_UP','AWAITING_COMPANY_DETAILS','FAILED','FAILED',"
        "'NEEDS_ATTENTION','SETTING_UP','FAILED'])[1 + pg_temp.h('s', i) % 8]"
    )
    return [
        (
            "partners",
            f"""
            INSERT INTO partners (id, name, created_at)
            SELECT md5('p' || i)::uuid, 'Cabinet ' || i, now() - interval '3 years'
            FROM generate_series(0, {others - 1}) i
            """,
            others,
        ),
        (
            "onboardings",
            f"""
            INSERT INTO onboardings (id, partner_id, idempotency_key, request_hash, workflow_id,
                                     status, created_at, updated_at, case_manager, status_since,
                                     start_pending)
            SELECT md5('o' || i)::uuid, {partner_of}, 'key-' || i, 'h',
                   'onboarding-' || md5('o' || i)::uuid, st, created, created + age, cm,
                   created + age, false
            FROM (
                SELECT i, st, cm, created,
                       LEAST(now() - created, CASE
                           WHEN st IN ('COMPLETED', 'FAILED')
                               THEN make_interval(hours => 1 + pg_temp.h('a', i) % 2000)
                           WHEN pg_temp.h('k', i) % 50 = 0
                               THEN make_interval(hours => pg_temp.h('a', i) % 400)
                           ELSE make_interval(mins => pg_temp.h('a', i) % 30) END) AS age
                FROM (
                    SELECT i,
                           CASE WHEN i <= {sizes.clients} THEN {with_client}
                                ELSE {without_client} END AS st,
                           ({managers})[1 + pg_temp.h('m', i) % {len(CASE_MANAGERS)}] AS cm,
                           now() - make_interval(secs => ({sizes.onboardings} - i)::float8 * 86400
                                                 * 1000 / {sizes.onboardings}) AS created
                    FROM generate_series(1, {sizes.onboardings}) i
                ) g
            ) a
            """,
            sizes.onboardings,
        ),
        (
            "clients",
            f"""
            INSERT INTO clients (id, partner_id, onboarding_id, name, email, language,
                                 notifications_muted, status, created_at, updated_at, first_name,
                                 last_name, siret, company, tags, case_manager, enterprise_number,
                                 invitation_state, invitation_scheduled_at)
            SELECT md5('c' || i)::uuid, o.partner_id, o.id,
                   kind || ' ' || last || ' ' || (i % 997), 'client' || i || '@example.com',
                   'fr', st = 'WAITING_FOR_UNMUTE', 'ready', o.created_at, o.updated_at,
                   first, last, lpad(i::text, 9, '0') || '00017',
                   jsonb_build_object('name', upper(last) || ' ' || kind || ' SARL'),
                   CASE WHEN i % 3 = 0 THEN ARRAY[({tags})[1 + i % {len(TAGS)}]]
                        ELSE '{{}}'::text[] END,
                   o.case_manager,
                   CASE WHEN i % 10 = 0 THEN '0' || lpad(i::text, 7, '0')
                        || lpad((97 - i % 97)::text, 2, '0') END,
                   inv, CASE WHEN inv = 'scheduled'
                             THEN now() + make_interval(mins => pg_temp.h('t', i) % 86400)
                        END
            FROM (
                SELECT i, o.*, o.status AS st,
                       (ARRAY['Boulangerie','Garage','Cabinet','Pharmacie','Atelier','Brasserie',
                              'Menuiserie','Transports'])[1 + pg_temp.h('n', i) % 8] AS kind,
                       (ARRAY['Dupont','Martin','Bernard','Dubois','Thomas','Robert','Richard',
                              'Petit','Durand','Leroy','Moreau','Simon','Laurent','Lefebvre',
                              'Michel','Garcia','David','Bertrand','Roux','Vincent','Fournier',
                              'Morel','Girard','André','Lefèvre','Mercier','Dupuis','Lambert',
                              'Bonnet','François','Janssens','Peeters','Maes','Jacobs',
                              'Mertens','Willems','Claes','Goossens','Wouters','De Smet'])
                           [1 + pg_temp.h('l', i) % 40] AS last,
                       (ARRAY['Anne','Marc','Julie','Luc','Sophie','Paul','Claire','Jean'])
                           [1 + pg_temp.h('f', i) % 8] AS first,
                       CASE o.status
                           WHEN 'COMPLETED' THEN 'accepted'
                           WHEN 'WAITING_FOR_UNMUTE' THEN 'muted'
                           WHEN 'NEEDS_ATTENTION' THEN 'pending'
                           ELSE (ARRAY['scheduled','sent','waiting_manual','expired','sent',
                                       'scheduled','bounced','cancelled'])
                                [1 + pg_temp.h('v', i) % 8] END AS inv
                FROM generate_series(1, {sizes.clients}) i
                JOIN onboardings o ON o.id = md5('o' || i)::uuid
            ) o
            """,
            sizes.clients,
        ),
        (
            "invitations",
            f"""
            INSERT INTO invitations (onboarding_id, sequence, token_hash, recipient, expires_at,
                                     accepted_at, created_at)
            SELECT c.onboarding_id, 1, md5('t' || i), 'client' || i || '@example.com',
                   c.created_at + interval '30 days',
                   CASE WHEN c.invitation_state = 'accepted'
                        THEN c.created_at + interval '2 days' END, c.created_at
            FROM generate_series(1, {sizes.clients}) i
            JOIN clients c ON c.id = md5('c' || i)::uuid
            WHERE c.invitation_state IN ('accepted', 'sent', 'expired', 'bounced')
            """,
            sizes.clients,
        ),
        (
            "email_log",
            f"""
            INSERT INTO email_log (onboarding_id, purpose, sequence, recipient, subject,
                                   message_id, status, attempts, created_at, sent_at)
            SELECT md5('o' || (1 + i % {sizes.onboardings}))::uuid,
                   (ARRAY['invitation','reminder','collaborators','setup_complete'])
                       [1 + (i / {sizes.onboardings}) % 4],
                   i / ({sizes.onboardings} * 4), 'client@example.com', 'Votre espace client',
                   '<' || i || '@bench.example>', 'sent', 1,
                   now() - make_interval(mins => ({sizes.emails} - i) / 5),
                   now() - make_interval(mins => ({sizes.emails} - i) / 5)
            FROM generate_series(0, {sizes.emails - 1}) i
            """,
            sizes.emails,
        ),
        (
            "webhook_endpoints",
            f"""
            INSERT INTO webhook_endpoints (id, partner_id, url, event_types, secret, created_at,
                                           failing_since, disabled_at)
            SELECT md5('e' || i)::uuid, {partner_of},
                   'https://hooks' || i || '.example/onboarding',
                   ARRAY['onboarding.ready','onboarding.completed','invitation.sent'],
                   'whsec_' || md5('s' || i), now() - interval '2 years',
                   CASE WHEN i % 20 = 1 THEN now() - interval '1 hour' END,
                   CASE WHEN i % 50 = 2 THEN now() - interval '1 day' END
            FROM generate_series(0, {sizes.endpoints - 1}) i
            """,
            sizes.endpoints,
        ),
        (
            "webhook_deliveries",
            # Two attempts a delivery; all delivered but the last thousand (pending, due now:
            # what the outbox's claim finds), a few retrying.
            f"""
            INSERT INTO webhook_deliveries (id, endpoint_id, partner_id, event_id, event_type,
                                            ordering_key, payload, created_at, window_started_at,
                                            state, attempts, next_attempt_at, delivered_at)
            SELECT md5('d' || i)::uuid, e.id, e.partner_id, 'msg_' || md5('d' || i),
                   'onboarding.ready', md5('o' || (1 + i % {sizes.onboardings}))::text,
                   jsonb_build_object('onboarding_id', md5('o' || i)::uuid), made, made,
                   CASE WHEN i >= {sizes.attempts // 2} - 1000 THEN 'pending'
                        ELSE 'delivered' END,
                   2, CASE WHEN i % 7 = 0 THEN now() + interval '5 minutes' ELSE now() END,
                   CASE WHEN i < {sizes.attempts // 2} - 1000 THEN made + interval '2 seconds'
                        END
            FROM (
                SELECT i, now() - make_interval(secs => ({sizes.attempts // 2} - i) * 6) AS made
                FROM generate_series(0, {sizes.attempts // 2 - 1}) i
            ) g
            JOIN webhook_endpoints e ON e.id = md5('e' || (i % {sizes.endpoints}))::uuid
            """,
            sizes.attempts // 2,
        ),
        (
            "webhook_attempts",
            """
            INSERT INTO webhook_attempts (delivery_id, attempt, started_at, status_code,
                                          latency_ms)
            SELECT d.id, a, d.created_at + make_interval(secs => a), CASE a WHEN 1 THEN 503
                   ELSE 200 END, 40 + a
            FROM webhook_deliveries d, generate_series(1, 2) a
            """,
            sizes.attempts,
        ),
    ]


async def fill(dsn: str, *, big_partner: uuid.UUID, sizes: Sizes) -> dict[str, float]:
    """Fill the database, one statement per table; seconds each (and ANALYZE's). The big
    partner (a fifth of the clients) must exist; the others are made here. The EXPLAIN and
    migration tests (tests/store/test_at_size.py) fill theirs with it too."""
    seconds: dict[str, float] = {}
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    try:
        # The fill's rows are consistent by construction: triggers (webhook events of e-mails
        # and status changes) and foreign-key checks would only slow it.
        await conn.execute("SET session_replication_role = replica")
        # A spread of row i by a tag, never negative (hashtext's range is int4's).
        await conn.execute(
            "CREATE FUNCTION pg_temp.h(tag text, i bigint) RETURNS integer"
            " LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext(tag || i) & 2147483647 $$"
        )
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("SET work_mem = '256MB'")
        for table, sql, rows in _fill_statements(sizes):
            started = time.monotonic()
            log.info("data bench: filling", extra={"table": table, "rows": rows})
            await conn.execute(sql, *([big_partner] if "$1" in sql else []))
            seconds[table] = time.monotonic() - started
            log.info(
                "data bench: filled",
                extra={"table": table, "rows": rows, "seconds": round(seconds[table], 1)},
            )
        await conn.execute("SET session_replication_role = origin")
        started = time.monotonic()
        # VACUUM too: the visibility map lets the planner use index-only scans, as it would on
        # a database that has lived.
        await conn.execute("VACUUM ANALYZE")
        seconds["vacuum analyze"] = time.monotonic() - started
        log.info("data bench: analyzed", extra={"seconds": round(seconds["vacuum analyze"], 1)})
    finally:
        await conn.close()
    return seconds


def _enterprise_number(i: int) -> str:
    """Client i's enterprise number (a tenth of the clients have one), as the fill makes it:
    eight digits and their mod-97 check."""
    return f"0{i:07d}{97 - i % 97:02d}"


@dataclass(frozen=True)
class Call:
    name: str
    kind: str  # list | page | metrics | reading (no target)
    run: Callable[[], Awaitable[None]]


@dataclass
class DataOutcome:
    sizes: Sizes
    calls: int
    fill_seconds: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    full_size: bool = True

    def q(self, name: str, at: float) -> float | None:
        value = quantile(self.samples.get(name, []), at)
        return value * 1000 if value is not None else None

    def figures(self) -> list[Figure]:
        figures = [
            Figure("data", "fill, all tables", sum(self.fill_seconds.values()), "s"),
        ]
        targets = {"list": LIST_TARGET_MS, "page": PAGE_TARGET_MS, "metrics": METRICS_TARGET_MS}
        for name in self.samples:
            if self.kinds[name] not in targets:
                p50, p95 = self.q(name, 0.5), self.q(name, 0.95)
                figures.append(Figure("data", f"{name} p95 (p50 {p50 or 0:.1f})", p95, "ms"))
                continue
            target = targets[self.kinds[name]]
            p50, p95, p99 = (self.q(name, at) for at in (0.5, 0.95, 0.99))
            # Targets hold at full size; a smaller run reports its figures without a verdict.
            judged = self.full_size
            figures.append(
                Figure(
                    "data",
                    f"{name} p95 (p50 {p50 or 0:.1f}, p99 {p99 or 0:.1f})",
                    p95,
                    "ms",
                    f"<= {target:.0f} ms" if judged else f"({target:.0f} ms at scale 1)",
                    (p95 is not None and p95 <= target) if judged else None,
                )
            )
        return figures

    def details(self) -> dict[str, Any]:
        return {
            "sizes": vars(self.sizes),
            "calls": self.calls,
            "fill_seconds": {k: round(v, 1) for k, v in self.fill_seconds.items()},
            "ms": {
                name: {
                    "kind": self.kinds[name],
                    "p50": self.q(name, 0.5),
                    "p95": self.q(name, 0.95),
                    "p99": self.q(name, 0.99),
                    "n": len(values),
                }
                for name, values in self.samples.items()
            },
        }


def _calls(
    api: httpx.AsyncClient,
    console_http: httpx.AsyncClient,
    cached_http: httpx.AsyncClient,
    services: Services,
    *,
    sizes: Sizes,
    client_id: uuid.UUID,
    half_way_cursor: str,
) -> list[Call]:
    def get(
        path: str, *, http: httpx.AsyncClient = api, **params: Any
    ) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            response = await http.get(path, params=params)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} {params}: {response.status_code}")

        return call

    now = datetime.now(UTC)
    week_from, week_to = now.isoformat(), (now + timedelta(days=7)).isoformat()
    half_way = (sizes.clients // BIG_SHARE) // 2
    siret = f"{sizes.clients // 3:09d}"  # a client's SIREN, some way into the table

    async def claim() -> None:
        # A zero lease: the claimed deliveries are due again for the next call, so each call
        # finds the same amount of work.
        await webhooks.claim(services.pool, limit=50, lease=timedelta(0))

    clients = "/v1/clients"
    calls = [
        Call("clients, first page", "list", get(clients, limit=50)),
        Call("clients, page half-way (offset)", "list", get(clients, limit=50, offset=half_way)),
        Call(
            "clients, page half-way (cursor)",
            "list",
            get(clients, limit=50, cursor=half_way_cursor),
        ),
        Call("clients, sort name", "list", get(clients, limit=50, sort="name")),
        Call("clients, sort -name", "list", get(clients, limit=50, sort="-name")),
        Call("clients, sort created_at", "list", get(clients, limit=50, sort="created_at")),
        Call("clients, sort scheduled_at", "list", get(clients, limit=50, sort="scheduled_at")),
        Call("clients, sort status", "list", get(clients, limit=50, sort="status")),
        Call("clients, case_manager", "list", get(clients, limit=50, case_manager="Chloé")),
        Call("clients, tag", "list", get(clients, limit=50, tag="export")),
        Call("clients, status", "list", get(clients, limit=50, status="NEEDS_ATTENTION")),
        Call("clients, muted", "list", get(clients, limit=50, muted="true")),
        Call("clients, invitation_state", "list", get(clients, limit=50, invitation_state="sent")),
        Call(
            "clients, enterprise_number",
            "list",
            get(clients, limit=50, enterprise_number=_enterprise_number(sizes.clients // 2)),
        ),
        Call(
            "clients, scheduled in a week",
            "list",
            get(clients, limit=50, scheduled_from=week_from, scheduled_to=week_to),
        ),
        Call("search q name word", "list", get(clients, limit=50, q="dupont")),
        Call("search q name prefix", "list", get(clients, limit=50, q="Boulangerie Lam")),
        Call("search q name infix", "list", get(clients, limit=50, q="ussen")),
        Call("search q company", "list", get(clients, limit=50, q="GOOSSENS MENUISERIE")),
        Call("search q SIRET prefix", "list", get(clients, limit=50, q=siret[:6])),
        Call("search q SIRET infix", "list", get(clients, limit=50, q=siret[3:9])),
        Call(
            "search q enterprise number prefix",
            "list",
            get(clients, limit=50, q=f"BE 0{siret[:4]}"),
        ),
        Call("search q no match", "list", get(clients, limit=50, q="zzqx")),
        Call("onboardings, first page", "list", get("/v1/onboardings", limit=50)),
        Call("onboardings, status", "list", get("/v1/onboardings", limit=50, status="SETTING_UP")),
        Call("onboardings, stuck", "list", get("/v1/onboardings", limit=50, stuck_for="PT48H")),
        Call("one client (GET /v1/clients/{id})", "page", get(f"{clients}/{client_id}")),
        Call("outbox claim (store)", "list", claim),
        Call("console clients page", "page", get("/console/clients", http=console_http)),
        Call(
            "console clients page, search",
            "page",
            get("/console/clients", http=console_http, q="dupont"),
        ),
        Call(
            "console client page",
            "page",
            get(f"/console/clients/{client_id}", http=console_http),
        ),
        Call("console needs attention", "page", get("/console/attention", http=console_http)),
        # As deployed (ONBOARDING_METRICS_REFRESH_SECONDS 15): the last reading, read again in
        # the background once stale.
        Call("GET /metrics", "metrics", get("/metrics", http=cached_http)),
        # With a refresh of 0 every scrape reads the projection and waits: what a scrape that
        # found the cache stale cost before issue 25 (no target: the reading's own cost).
        Call("GET /metrics, read afresh (refresh 0)", "reading", get("/metrics")),
    ]
    return calls


async def measure(calls: list[Call], *, count: int, outcome: DataOutcome) -> None:
    for call in calls:
        await call.run()  # warm-up, not counted: the first call's plan and caches
        samples: list[float] = []
        started_all = time.monotonic()
        for _ in range(count):
            started = time.perf_counter()
            await call.run()
            samples.append(time.perf_counter() - started)
            if time.monotonic() - started_all > 30:  # a very slow call: enough samples
                break
        outcome.samples[call.name] = samples
        outcome.kinds[call.name] = call.kind
        log.info(
            "data bench: measured",
            extra={
                "call": call.name,
                "p50_ms": round(outcome.q(call.name, 0.5) or 0, 1),
                "p95_ms": round(outcome.q(call.name, 0.95) or 0, 1),
                "n": len(samples),
            },
        )


async def run(env: WorkflowEnvironment, *, scale: float, calls: int) -> DataOutcome:
    sizes = Sizes.at(scale)
    outcome = DataOutcome(sizes=sizes, calls=calls, full_size=scale >= 1)
    async with postgres_database() as dsn:
        settings = Settings(
            env=Environment.test,
            database_url=dsn,
            temporal_address=env.client.service_client.config.target_host,
            task_queue=f"bench-{uuid.uuid4().hex[:8]}",
            metrics_enabled=True,
            metrics_refresh_seconds=0,
            api_rate_limit_per_second=100_000,
            api_rate_limit_burst=100_000,
        )
        pool = await create_pool(dsn, min_size=1, max_size=10)
        try:
            partner, admin, key = await partners.create_partner(
                pool, name="Cabinet Grand", admin_email="ada@grand.example", admin_name="Ada"
            )
            outcome.fill_seconds = await fill(dsn, big_partner=partner.id, sizes=sizes)
            session_id = secrets.token_urlsafe(32)
            await console.create_session(
                pool,
                id_hash=digest(session_id),
                partner_id=partner.id,
                user_id=admin.id,
                csrf_token=secrets.token_urlsafe(32),
                absolute_seconds=24 * 3600,
            )
            # A client of the big partner half-way through its rows.
            client_id = await pool.fetchval(
                "SELECT id FROM clients WHERE id = md5('c' || $1::text)::uuid",
                str((sizes.clients // 2) // BIG_SHARE * BIG_SHARE),
            )
            assert client_id is not None
            services = Services(
                settings=settings, pool=pool, temporal=await temporal.connect(settings)
            )
            cached = Services(
                settings=settings.model_copy(update={"metrics_refresh_seconds": 15.0}),
                pool=pool,
                temporal=services.temporal,
            )
            async with api_server(services) as http, api_server(cached) as cached_http:
                http.headers["Authorization"] = f"Bearer {key}"
                async with httpx.AsyncClient(
                    base_url=str(http.base_url),
                    headers={"Cookie": f"{cookie_name(settings)}={session_id}"},
                    timeout=120,
                ) as console_http:
                    # The cursor a caller paging by cursor holds half-way through the big list.
                    before = await http.get(
                        "/v1/clients",
                        params={"limit": 1, "offset": (sizes.clients // BIG_SHARE) // 2 - 1},
                    )
                    plan = _calls(
                        http,
                        console_http,
                        cached_http,
                        services,
                        sizes=sizes,
                        client_id=client_id,
                        half_way_cursor=before.json()["next_cursor"],
                    )
                    await measure(plan, count=calls, outcome=outcome)
        finally:
            await pool.close()
    return outcome
