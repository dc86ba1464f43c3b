"""The retention schedule: RetentionWorkflow on the main task queue, at `retention_cron`.

Every worker registers it when it starts (so `make dev`, whose stack starts one, does too), and
more than one may race to: creating a schedule that exists is refused by the server, and is
then an update to today's spec and task queue instead, so the last worker started wins and
there is only ever one schedule.
"""

from __future__ import annotations

import logging

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from core.settings import Settings
from workflows.retention import RetentionInput, RetentionWorkflow

log = logging.getLogger(__name__)

SCHEDULE_ID = "retention"


def retention_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionWorkflow.run,
            RetentionInput(),
            # The schedule appends the start time: one id per run, none personal.
            id=SCHEDULE_ID,
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[settings.retention_cron]),
        # A run still deleting when the next is due: the next is skipped, not run beside it.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_retention_schedule(client: Client, settings: Settings) -> None:
    """Create the schedule, or bring an existing one to these settings (idempotent)."""
    schedule = retention_schedule(settings)
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
        log.info("retention schedule created", extra={"cron": settings.retention_cron})
    except ScheduleAlreadyRunningError:

        def updated(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SCHEDULE_ID).update(updated)
        log.info("retention schedule updated", extra={"cron": settings.retention_cron})
