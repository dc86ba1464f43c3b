"""Retention: each table's rows older than its period deleted, in batches, by a workflow that
the worker schedules when it starts (issue 25)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.retention import RetentionActivities
from core.settings import Settings
from devstack.postgres import create_scratch_database
from domain.retention import Table
from store.migrate import apply_migrations
from store.pool import Pool, create_pool
from tests.e2e.processes import worker_env
from tests.eventually import eventually
from tests.factories import Tenant, make_client, make_tenant
from worker.main import WORKFLOW_RUNNER
from worker.retention import SCHEDULE_ID, ensure_retention_schedule
from workflows.retention import RetentionInput, RetentionResult, RetentionWorkflow

ROOT = Path(__file__).resolve().parents[2]
BATCH = 2


@pytest.fixture
async def own_pool(postgres_admin_dsn: str) -> AsyncIterator[Pool]:
    """A database of this test's own: every old row in it is one the test made, so the counts
    of rows removed are exact."""
    dsn = await create_scratch_database(postgres_admin_dsn, "retention")
    await apply_migrations(dsn)
    pool = await create_pool(dsn, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


def _ago(days: float) -> timedelta:
    return timedelta(days=days)


class Rows:
    """Rows made `days` ago in each table, remembered by key, to see which are left."""

    def __init__(self, pool: Pool, tenant: Tenant, periods: dict[Table, float]) -> None:
        self.pool, self.tenant, self.periods = pool, tenant, periods
        self.old: dict[Table, set[str]] = {t: set() for t in Table}
        self.young: dict[Table, set[str]] = {t: set() for t in Table}
        self.endpoint = uuid.uuid4()

    def when(self, table: Table, old: bool) -> timedelta:
        # A day either side of the period: the test does not hang on the clock's last second.
        return _ago(self.periods[table] + (1 if old else -1))

    def remember(self, table: Table, key: str, old: bool) -> None:
        (self.old if old else self.young)[table].add(key)

    async def make_all(self) -> None:
        p, partner, user = self.pool, self.tenant.partner.id, self.tenant.admin.id
        await p.execute(
            "INSERT INTO webhook_endpoints (id, partner_id, url, event_types, secret) "
            "VALUES ($1, $2, 'https://example.com/hook', '{}', 'whsec_x')",
            self.endpoint,
            partner,
        )
        # Webhook deliveries: ended ones go once old; a pending one never.
        for n, (state, old) in enumerate(
            [("delivered", True)] * 3 + [("failed", True), ("delivered", False), ("pending", True)]
        ):
            delivery = await self.delivery(state, self.when(Table.webhook_deliveries, old), n)
            gone = old and state != "pending"
            self.remember(Table.webhook_deliveries, str(delivery), gone)
            # Its attempt, as young as possible: it goes with its delivery, or stays.
            await self.attempt(delivery, 1, _ago(0))
            self.remember(Table.webhook_attempts, f"{delivery}/1", gone)
        # Attempts of a delivery that stays: the old ones go on their own period.
        keeper = await self.delivery("pending", _ago(0), 99)
        self.remember(Table.webhook_deliveries, str(keeper), False)
        for attempt in range(1, 6):
            old = attempt <= 5 - 1
            await self.attempt(keeper, attempt, self.when(Table.webhook_attempts, old))
            self.remember(Table.webhook_attempts, f"{keeper}/{attempt}", old)
        # E-mail log: only a finished onboarding's, and never client_ready.
        finished, _ = await make_client(p, self.tenant)
        running, _ = await make_client(p, self.tenant)
        await p.execute("UPDATE onboardings SET status = 'COMPLETED' WHERE id = $1", finished)
        for seq, (onboarding, purpose, old, gone) in enumerate(
            [
                (finished, "invitation", True, True),
                (finished, "reminder", True, True),
                (finished, "invitation", True, True),
                (finished, "client_ready", True, False),
                (finished, "reminder", False, False),
                (running, "invitation", True, False),
            ]
        ):
            await p.execute(
                "INSERT INTO email_log (onboarding_id, purpose, sequence, recipient, subject, "
                "message_id, status, created_at) "
                "VALUES ($1, $2, $3, 'd@example.com', 's', $4, 'sent', now() - $5::interval)",
                onboarding,
                purpose,
                seq,
                f"<{uuid.uuid4()}@test>",
                self.when(Table.email_log, old),
            )
            self.remember(Table.email_log, f"{onboarding}/{purpose}/{seq}", gone)
        # Console sign-in links and sessions: by their expiry.
        for old in (True, True, True, False):
            token = uuid.uuid4().hex
            await p.execute(
                "INSERT INTO console_sign_in_links (token_hash, partner_id, user_id, expires_at) "
                "VALUES ($1, $2, $3, now() - $4::interval)",
                token,
                partner,
                user,
                self.when(Table.console_sign_in_links, old),
            )
            self.remember(Table.console_sign_in_links, token, old)
            session = uuid.uuid4().hex
            await p.execute(
                "INSERT INTO console_sessions (id_hash, partner_id, user_id, csrf_token, "
                "expires_at) VALUES ($1, $2, $3, 'c', now() - $4::interval)",
                session,
                partner,
                user,
                self.when(Table.console_sessions, old),
            )
            self.remember(Table.console_sessions, session, old)
        # Imports: an old finished one's rows go; an old one with a row to settle, and a young
        # finished one, keep theirs.
        for old, open_row in ((True, False), (True, True), (False, False)):
            import_id = uuid.uuid4()
            await p.execute(
                "INSERT INTO imports (id, partner_id, idempotency_key, request_hash, workflow_id, "
                "filename, total_rows, valid_rows, created_at) "
                "VALUES ($1, $2, $3, 'h', $3, 'f.csv', 3, 2, now() - $4::interval)",
                import_id,
                partner,
                str(import_id),
                self.when(Table.import_rows, old),
            )
            rows = [
                ("INSERT INTO import_rows (import_id, row) VALUES ($1, 1)"),  # invalid
                (
                    "INSERT INTO import_rows (import_id, row, request, skipped) "
                    "VALUES ($1, 2, '{}', 'already a client')"
                ),
                (
                    "INSERT INTO import_rows (import_id, row, request) VALUES ($1, 3, '{}')"
                    if open_row
                    else "INSERT INTO import_rows (import_id, row, request, settled_status) "
                    "VALUES ($1, 3, '{}', 'READY')"
                ),
            ]
            for number, statement in enumerate(rows, start=1):
                await p.execute(statement, import_id)
                self.remember(Table.import_rows, f"{import_id}/{number}", old and not open_row)

    async def delivery(self, state: str, age: timedelta, n: int) -> uuid.UUID:
        delivery = uuid.uuid4()
        await self.pool.execute(
            "INSERT INTO webhook_deliveries (id, endpoint_id, partner_id, event_id, event_type, "
            "ordering_key, payload, state, created_at, window_started_at, delivered_at) "
            "VALUES ($1, $2, $3, $4, 'onboarding.ready', 'k', '{}', $5, now() - $6::interval, "
            "now() - $6::interval, CASE WHEN $5 = 'delivered' THEN now() - $6::interval END)",
            delivery,
            self.endpoint,
            self.tenant.partner.id,
            f"msg_{n}_{delivery.hex}",
            state,
            age,
        )
        return delivery

    async def attempt(self, delivery: uuid.UUID, attempt: int, age: timedelta) -> None:
        await self.pool.execute(
            "INSERT INTO webhook_attempts (delivery_id, attempt, started_at) "
            "VALUES ($1, $2, now() - $3::interval)",
            delivery,
            attempt,
            age,
        )

    async def left(self) -> dict[Table, set[str]]:
        queries = {
            Table.webhook_deliveries: "SELECT id::text FROM webhook_deliveries",
            Table.webhook_attempts: (
                "SELECT delivery_id::text || '/' || attempt FROM webhook_attempts"
            ),
            Table.email_log: (
                "SELECT onboarding_id::text || '/' || purpose || '/' || sequence FROM email_log"
            ),
            Table.console_sign_in_links: "SELECT token_hash FROM console_sign_in_links",
            Table.console_sessions: "SELECT id_hash FROM console_sessions",
            Table.import_rows: "SELECT import_id::text || '/' || row FROM import_rows",
        }
        return {t: {r[0] for r in await self.pool.fetch(q)} for t, q in queries.items()}


def _removed_metric(table: Table) -> float:
    value = REGISTRY.get_sample_value(
        "onboarding_retention_rows_removed_total", {"table": table.value}
    )
    return value or 0.0


async def test_retention_removes_exactly_the_rows_older_than_each_period_in_batches(
    client: Client, own_pool: Pool, settings: Settings
) -> None:
    """Rows a day older and a day younger than each table's period: the workflow deletes
    exactly the old ones (never a pending delivery, a running onboarding's e-mails, a
    client_ready row or an unfinished import's rows), BATCH rows per statement, and counts them
    in the metric by table; a second run finds nothing."""
    periods = settings.retention_periods()
    rows = Rows(own_pool, await make_tenant(own_pool), periods)
    await rows.make_all()
    before = await rows.left()
    for table in Table:
        assert before[table] == rows.old[table] | rows.young[table], table
    metric_before = {table: _removed_metric(table) for table in Table}
    queue = f"retention-{uuid.uuid4().hex[:8]}"
    activities = RetentionActivities(own_pool, periods=periods, batch_size=BATCH)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[RetentionWorkflow],
        activities=[activities.purge_table],
        workflow_runner=WORKFLOW_RUNNER,
    ):
        result: RetentionResult = await client.execute_workflow(
            RetentionWorkflow.run, RetentionInput(), id=f"{queue}-1", task_queue=queue
        )
        again: RetentionResult = await client.execute_workflow(
            RetentionWorkflow.run, RetentionInput(), id=f"{queue}-2", task_queue=queue
        )
    after = await rows.left()
    by_table = {r.table: r for r in result.tables}
    # Deliveries go before attempts would: their own attempts are counted with them.
    counted_elsewhere = {Table.webhook_attempts: 3 + 1}
    for table in Table:
        assert after[table] == rows.young[table], table
        removed = len(rows.old[table]) - counted_elsewhere.get(table, 0)
        assert by_table[table].rows == removed, table
        assert by_table[table].batches == -(-removed // BATCH), table
        assert _removed_metric(table) - metric_before[table] == removed, table
    assert sum(r.rows for r in again.tables) == 0


async def test_worker_registers_the_retention_schedule_when_it_starts(
    client: Client, settings: Settings
) -> None:
    """`onboarding worker` creates the schedule (RetentionWorkflow on its task queue, at
    retention_cron); registering again with other settings updates that one schedule."""
    env = {**worker_env(settings), "ONBOARDING_RETENTION_CRON": "41 2 * * *"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "worker",
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    handle = client.get_schedule_handle(SCHEDULE_ID)
    try:

        async def registered() -> Any:
            assert process.returncode is None, "the worker exited"
            try:
                found = await handle.describe()
            except Exception:  # not created yet: RPCError NOT_FOUND
                return None
            action = found.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow)
            return found if action.task_queue == settings.task_queue else None

        described = await eventually(
            registered, what="the schedule on the worker's task queue", within=30, every=0.1
        )
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action is not None, "no schedule on the worker's task queue"
        assert action.workflow == "RetentionWorkflow"
        spec = described.schedule.spec if described else None
        assert spec is not None
        assert [(c.hour[0].start, c.minute[0].start) for c in spec.calendars] == [(2, 41)] or (
            spec.cron_expressions == ["41 2 * * *"]
        )
        await ensure_retention_schedule(client, settings)  # the default cron, again: an update
        spec = (await handle.describe()).schedule.spec
        assert [(c.hour[0].start, c.minute[0].start) for c in spec.calendars] == [(3, 17)] or (
            spec.cron_expressions == ["17 3 * * *"]
        )
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
        # Never left for a later test's server clock to fire; absent if the worker never made it.
        with contextlib.suppress(RPCError):
            await handle.delete()
