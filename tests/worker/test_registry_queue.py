"""The registry queue's settings on the worker: Temporal splits a queue's rate limit between its
partitions, so the guard is the registry's rate times the partitions the server has, and a worker
holds about 2 s of lookups."""

from __future__ import annotations

import uuid

import httpx
from temporalio.client import Client

from activities.registry import RegistryConfig, build_registry_client
from core.settings import Settings
from store.pool import Pool
from worker.main import build_workers


async def _registry_config(
    client: Client, pool: Pool, settings: Settings, **changes: object
) -> tuple[float | None, int | None]:
    settings = settings.model_copy(update=changes)
    async with httpx.AsyncClient() as http:
        workers = build_workers(
            client,
            pool=pool,
            settings=settings,
            http=http,
            registry=build_registry_client(
                RegistryConfig.from_settings(settings), http=http, pool=pool
            ),
            # Queues of their own: the SDK allows one worker per queue and client.
            task_queue=f"queue-{uuid.uuid4().hex}",
            registry_task_queue=f"registry-{uuid.uuid4().hex}",
        )
        config = workers.registry.config()
    return config.get("max_task_queue_activities_per_second"), config.get(
        "max_concurrent_activities"
    )


async def test_registry_queue_guard_is_the_rate_times_the_partitions(
    client: Client, pool: Pool, settings: Settings
) -> None:
    assert await _registry_config(client, pool, settings, registry_rate_limit=7.0) == (28.0, 14)
    assert await _registry_config(
        client, pool, settings, registry_rate_limit=7.0, registry_queue_partitions=8
    ) == (56.0, 14)
    assert await _registry_config(
        client, pool, settings, registry_rate_limit=2.0, registry_queue_partitions=1
    ) == (2.0, 4)
