"""Waiting in tests, one way: `eventually` for what must come, and exact checks from the
workflow's own history for what must not (never "sleep, then see that nothing came", which
passes whenever the unwanted thing is merely late)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.client import WorkflowHistory as History
from temporalio.converter import DataConverter

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    what: str,
    within: float = 15.0,
    every: float = 0.05,
    until: Callable[[T], object] | None = None,
) -> T:
    """probe() until its answer is truthy (or, given `until`, until `until(answer)` is), and
    return that answer; fail saying `what` was not seen in `within` seconds, with the probe's
    last answer (so a probe returning the whole view says where it stood)."""
    deadline = time.monotonic() + within
    while True:
        last = await probe()
        if until(last) if until is not None else last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not seen in {within}s; last: {last!r}")
        await asyncio.sleep(every)


async def _quiet_history(handle: WorkflowHandle[Any, Any]) -> History:
    """The workflow's history once no workflow task is pending: whatever the workflow was going
    to decide from what it has been sent (schedule an activity, send an e-mail) is in it by then.
    """

    async def quiet() -> bool:
        described = await handle.describe()
        return not described.raw_description.HasField("pending_workflow_task")

    await eventually(quiet, what="the workflow's pending task done")
    return await handle.fetch_history()


async def activities_scheduled(handle: WorkflowHandle[Any, Any], name: str) -> int:
    """How many times the workflow has scheduled the activity `name`, once it has acted on all
    it was sent: exact where "sleep, then count the e-mails" guesses."""
    history = await _quiet_history(handle)
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == name
    )


async def activity_inputs(
    handle: WorkflowHandle[Any, Any], name: str, input_type: type[T], converter: DataConverter
) -> list[T]:
    """The input of every `name` activity the workflow has scheduled, in order, once it has
    acted on all it was sent: for counts that depend on what each call was for (one activity
    sends the invitation, its reminders and the staff's expiry notice alike)."""
    history = await _quiet_history(handle)
    inputs: list[T] = []
    for e in history.events:
        if (
            e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == name
        ):
            payloads = e.activity_task_scheduled_event_attributes.input.payloads
            [data] = await converter.decode(list(payloads), [input_type])
            inputs.append(data)
    return inputs


async def updates_accepted(handle: WorkflowHandle[Any, Any]) -> int:
    """How many updates the workflow has accepted (one refused by its validator, or never sent
    because the route refused first, is none)."""
    history = await _quiet_history(handle)
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


async def activities_completed(handle: WorkflowHandle[Any, Any], name: str) -> int:
    """How many runs of the activity `name` the workflow has seen complete: what to wait for
    before checking that an activity which decided to send nothing indeed sent nothing."""
    history = await handle.fetch_history()
    scheduled = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == name
    }
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and e.activity_task_completed_event_attributes.scheduled_event_id in scheduled
    )
