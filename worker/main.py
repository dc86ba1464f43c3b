"""Build and run the Temporal workers with their dependencies.

Two task queues: the main one (workflows and every activity but the registry lookup), and the
registry queue, whose requests the fleet pacer in PostgreSQL keeps under the registry's published
limit however many workers run; the queue's own rate limit is a coarse guard above it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.checklist_notice import ChecklistNoticeActivities
from activities.checklists import ChecklistActivities
from activities.client_setup import ClientSetupActivities
from activities.clients import ClientActivities
from activities.company_checks import CompanyActivities
from activities.email import EmailActivities, SmtpConfig
from activities.escalations import EscalationActivities
from activities.fiscal_years import FiscalYearActivities
from activities.folders import FolderActivities
from activities.imports import ImportActivities, start_onboardings
from activities.integrations import IntegrationActivities
from activities.invitations import CollaboratorActivities, InvitationActivities
from activities.registry import (
    RegistryActivities,
    RegistryClient,
    RegistryConfig,
    build_registry_client,
)
from activities.retention import RetentionActivities
from activities.setup import SetupActivities
from activities.vies import ViesActivities, ViesConfig
from core import metrics, namespace, temporal, tracing
from core.outbound import OutboundPolicy
from core.settings import Settings
from email_templates import Renderer
from store.pool import Pool, create_pool
from worker.interceptors import DataErrorsAreFinal
from worker.retention import ensure_retention_schedule
from worker.webhooks import delivering
from workflows.bulk_import import BulkImportWorkflow
from workflows.checklist_notice import ChecklistNoticeWorkflow
from workflows.collaborators import CollaboratorsNoticeWorkflow
from workflows.fiscal_years import FiscalYearWorkflow
from workflows.integrations import IntegrationChangeWorkflow
from workflows.onboarding import OnboardingWorkflow
from workflows.retention import RetentionWorkflow

log = logging.getLogger(__name__)

WORKFLOWS: Sequence[type] = (
    OnboardingWorkflow,
    BulkImportWorkflow,
    FiscalYearWorkflow,
    CollaboratorsNoticeWorkflow,
    ChecklistNoticeWorkflow,
    IntegrationChangeWorkflow,
    RetentionWorkflow,
)

# pydantic imports email_validator (and idna) lazily the first time an EmailStr is validated,
# which would otherwise happen inside the sandbox and re-import them per workflow run.
# They are pure and deterministic, so the sandbox may share the worker's copies.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "email_validator", "idna", "stdnum"
    )
)


def activities_for(
    pool: Pool, settings: Settings, renderer: Renderer, http: httpx.AsyncClient
) -> list[Any]:
    """Every activity of the main task queue, bound to its dependencies. Tests build the same."""
    clients = ClientActivities(pool)
    email = EmailActivities(pool, SmtpConfig.from_settings(settings), renderer)
    invitations = InvitationActivities(
        email,
        secret_key=settings.secret_key.get_secret_value(),
        public_base_url=settings.public_base_url,
    )
    setup = SetupActivities(pool)
    company = CompanyActivities(pool)
    folders = FolderActivities(pool)
    client_setup = ClientSetupActivities(pool)
    integrations = IntegrationActivities(
        pool, http, outbound_policy=OutboundPolicy.from_settings(settings)
    )
    imports = ImportActivities(
        pool,
        registry_task_queue=settings.registry_task_queue,
        timeouts=settings.onboarding_timeouts(),
    )
    return [
        setup.resolve_setup,
        company.check_siret_available,
        company.lookup_enterprise,
        ViesActivities(pool, ViesConfig.from_settings(settings)).check_vat,
        clients.create_client,
        clients.complete_setup,
        ChecklistActivities(pool).assign_checklist,
        clients.record_status,
        clients.set_notifications,
        clients.record_invitation,
        folders.create_folders,
        FiscalYearActivities(pool).record_fiscal_year_folders,
        client_setup.assign_collaborators_and_subscription,
        integrations.connect_integration,
        integrations.record_integration_failure,
        invitations.send_invitation,
        CollaboratorActivities(invitations).notify_collaborators,
        EscalationActivities(invitations).escalate,
        imports.prepare_batch,
        imports.release_rows,
        imports.settled_rows,
        start_onboardings,
        ChecklistNoticeActivities(invitations).notify_checklist,
        integrations.disconnect_integration,
        integrations.finish_integration_change,
        RetentionActivities(
            pool, periods=settings.retention_periods(), batch_size=settings.retention_batch_size
        ).purge_table,
    ]


# Temporal splits a task queue's rate limit evenly between the queue's partitions (4 by
# default), each dispatching from its own backlog: with the limit at the registry's rate, the
# lookups left in one partition (the end of an import, or an uneven spread) went out at a
# quarter of it, one every 0.57 s with the registry worker idle (the rate bench's last 12
# lookups took 5 s). At the registry's rate times the partitions, one partition alone can feed
# the fleet pacer at its rate, which is what spaces the requests. A server configured with more
# partitions (matching.numTaskqueueReadPartitions) says so in `registry_queue_partitions`.
# Lookups a registry worker holds at once, in seconds of the registry's rate: what waits
# longer waits in the task queue, where the 15 s start-to-close does not run (a fleet of n
# registry workers holds about 2n s of lookups).
REGISTRY_WORKER_BACKLOG_SECONDS = 2.0


def _registry_queue_rate(settings: Settings) -> float | None:
    rate = RegistryConfig.from_settings(settings).fleet_rate
    return rate * settings.registry_queue_partitions if rate else None


def _registry_worker_lookups(settings: Settings) -> int | None:
    rate = RegistryConfig.from_settings(settings).fleet_rate
    return max(1, math.ceil(rate * REGISTRY_WORKER_BACKLOG_SECONDS)) if rate else None


@dataclass
class Workers:
    main: Worker
    registry: Worker


def build_workers(
    client: Client,
    *,
    pool: Pool,
    settings: Settings,
    http: httpx.AsyncClient,
    registry: RegistryClient,
    task_queue: str | None = None,
    registry_task_queue: str | None = None,
) -> Workers:
    main = Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=list(WORKFLOWS),
        activities=activities_for(
            pool, settings, Renderer(fallback_language=settings.email_fallback_language), http
        ),
        workflow_runner=WORKFLOW_RUNNER,
        interceptors=[DataErrorsAreFinal()],
        # Onboardings wait for days (an invitation, a person): the SDK's default cache of 1,000
        # of them grows a worker past 400 MB. Evicted ones are replayed when they wake.
        max_cached_workflows=settings.worker_max_cached_workflows,
    )
    registry_worker = Worker(
        client,
        task_queue=registry_task_queue or settings.registry_task_queue,
        activities=[RegistryActivities(registry, pool).lookup_company],
        interceptors=[DataErrorsAreFinal()],
        # Enforced by the server for every worker polling this queue: a coarse guard. The
        # fleet pacer (PostgreSQL) spaces the requests; this keeps lookups from being handed
        # out much faster than its slots, and the worker takes no more than it can pace
        # within their start-to-close timeout.
        max_task_queue_activities_per_second=_registry_queue_rate(settings),
        max_concurrent_activities=_registry_worker_lookups(settings),
    )
    return Workers(main=main, registry=registry_worker)


class WorkerRole(StrEnum):
    """Which task queues a worker process polls. `all` suits one machine; a fleet may run the
    registry lookups in processes of their own (`registry`), so that the requests' timing is not
    at the mercy of an event loop busy with workflows, and every other process as `main`."""

    all = "all"
    main = "main"
    registry = "registry"


@contextlib.asynccontextmanager
async def running(workers: Workers, role: WorkerRole = WorkerRole.all) -> AsyncIterator[Workers]:
    async with contextlib.AsyncExitStack() as stack:
        if role in (WorkerRole.all, WorkerRole.main):
            await stack.enter_async_context(workers.main)
        if role in (WorkerRole.all, WorkerRole.registry):
            await stack.enter_async_context(workers.registry)
        yield workers


def keep_workflow_bytecode() -> str | None:
    """Let the sandbox read the workflow modules' bytecode instead of compiling them each time.

    The sandbox imports a workflow's module afresh for every run it creates. Without bytecode on
    disk (PYTHONDONTWRITEBYTECODE, as in our image and on the test machines) each of those imports
    compiled workflows/onboarding.py from source again: about a quarter of the worker's CPU in
    the throughput benchmark (py-spy). Bytecode is written to a cache directory of the worker's
    own (PYTHONPYCACHEPREFIX when set), so the source tree stays as the operator wanted it.
    Returns that directory, or None when bytecode was allowed already.
    """
    if not sys.dont_write_bytecode:
        return None
    if sys.pycache_prefix is None:
        getuid = getattr(os, "getuid", None)
        owner = str(getuid()) if getuid else "user"
        sys.pycache_prefix = os.path.join(tempfile.gettempdir(), f"onboarding-pycache-{owner}")
    sys.dont_write_bytecode = False
    return sys.pycache_prefix


async def run_worker(settings: Settings, role: WorkerRole = WorkerRole.all) -> None:
    keep_workflow_bytecode()
    # The worker's own counters on a port of their own: the SDK's exporter (Rust, started by
    # temporal.connect(serve_metrics=True) at temporal_metrics_bind_address) serves only its own.
    metrics_server = (
        metrics.serve(settings.worker_metrics_bind_address)
        if settings.worker_metrics_bind_address
        else None
    )
    # Passed to the client only: the workers built from it inherit its tracing interceptor.
    tracer_provider = tracing.tracer_provider(settings, service=tracing.WORKER_SERVICE)
    pool = await create_pool(
        settings.require_database_url(),
        min_size=settings.database_pool_min,
        max_size=settings.database_pool_max,
    )
    try:
        async with httpx.AsyncClient() as http:
            client = await temporal.connect(
                settings, serve_metrics=True, tracer_provider=tracer_provider
            )
            # Before polling: a task run against a namespace missing an attribute fails in a loop.
            missing = await namespace.check(client, process="worker")
            if missing:
                raise namespace.NamespaceIncompleteError(client.namespace, missing)
            registry = build_registry_client(
                RegistryConfig.from_settings(settings), http=http, pool=pool
            )
            workers = build_workers(
                client, pool=pool, settings=settings, http=http, registry=registry
            )
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            log.info(
                "worker started",
                extra={
                    "role": role.value,
                    "task_queue": settings.task_queue,
                    "registry_task_queue": settings.registry_task_queue,
                    "registry_rate_limit": settings.registry_rate_limit,
                },
            )
            async with contextlib.AsyncExitStack() as stack:
                await stack.enter_async_context(running(workers, role))
                if role in (WorkerRole.all, WorkerRole.main):
                    # The worker that runs it registers it: a fleet with no main worker has no
                    # retention to schedule.
                    await ensure_retention_schedule(client, settings)
                    # Webhook deliveries: a PostgreSQL outbox, delivered from every main worker.
                    await stack.enter_async_context(delivering(pool, http, settings))
                await stop.wait()
                log.info("worker stopping")
    finally:
        await pool.close()
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        if tracer_provider is not None:
            tracer_provider.shutdown()  # flushes the last spans
