"""Build and run the Temporal worker with its dependencies."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.clients import ClientActivities
from activities.email import EmailActivities, SmtpConfig
from activities.setup import SetupActivities
from core import temporal
from core.settings import Settings
from email_templates import Renderer
from store.pool import Pool, create_pool
from workflows.onboarding import OnboardingWorkflow

log = logging.getLogger(__name__)

WORKFLOWS: Sequence[type] = (OnboardingWorkflow,)

# pydantic imports email_validator (and idna) lazily the first time an EmailStr is validated,
# which would otherwise happen inside the sandbox and re-import them per workflow run.
# They are pure and deterministic, so the sandbox may share the worker's copies.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("email_validator", "idna")
)


def activities_for(pool: Pool, settings: Settings, renderer: Renderer) -> list[Any]:
    """Every activity, bound to its dependencies. Tests build the same list."""
    clients = ClientActivities(pool)
    email = EmailActivities(pool, SmtpConfig.from_settings(settings), renderer)
    setup = SetupActivities(pool)
    return [
        setup.resolve_setup,
        clients.create_client,
        clients.complete_setup,
        clients.record_status,
        email.send_email,
    ]


def build_worker(
    client: Client, *, pool: Pool, settings: Settings, task_queue: str | None = None
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=list(WORKFLOWS),
        workflow_runner=WORKFLOW_RUNNER,
        activities=activities_for(pool, settings, Renderer()),
    )


async def run_worker(settings: Settings) -> None:
    pool = await create_pool(
        settings.require_database_url(),
        min_size=settings.database_pool_min,
        max_size=settings.database_pool_max,
    )
    try:
        client = await temporal.connect(settings)
        worker = build_worker(client, pool=pool, settings=settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info("worker started", extra={"task_queue": settings.task_queue})
        async with worker:
            await stop.wait()
            log.info("worker stopping")
    finally:
        await pool.close()
