"""Use cases on one running onboarding: its status, and the updates a person sends it (the
invitation's send-now and reschedule, and the rest through `update`)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from app import roles
from app.errors import AppError, Conflict, Invalid, NotFound, Unavailable
from domain.onboarding import InvitationChanged, OnboardingView, RescheduleInvitationInput
from domain.setup import Role
from store import onboardings
from store.pool import Pool
from workflows.onboarding import OnboardingWorkflow
from workflows.status_merge import ExplainedView, decode_pending, explain


def not_found(onboarding_id: uuid.UUID) -> NotFound:
    return NotFound(f"No onboarding {onboarding_id}")


def check_schedule(
    scheduled_at: datetime | None, *, now: datetime, horizon: timedelta, field: str
) -> None:
    """A scheduled invitation is for the future, and not so far that it is surely a typo.

    Checked here, before Temporal: workflow validators cannot see settings, and a time already
    past would make the workflow's timer fire at once (the invitation sent, not scheduled).
    """
    if scheduled_at is None:
        return
    if scheduled_at <= now:
        raise Invalid.field(
            field,
            "scheduled_at is in the past: give a future time, or use mode immediate",
            code="past",
        )
    if scheduled_at > now + horizon:
        raise Invalid.field(
            field,
            f"scheduled_at is more than {horizon.days} days ahead "
            "(ONBOARDING_INVITATION_HORIZON_DAYS)",
            code="too_far",
        )


async def _handle(
    pool: Pool, temporal: Client, partner_id: uuid.UUID, onboarding_id: uuid.UUID
) -> WorkflowHandle[OnboardingWorkflow, OnboardingView]:
    row = await onboardings.get(pool, partner_id=partner_id, onboarding_id=onboarding_id)
    if row is None:
        raise not_found(onboarding_id)
    return temporal.get_workflow_handle_for(OnboardingWorkflow.run, row.workflow_id)


def _unavailable(exc: RPCError, onboarding_id: uuid.UUID) -> AppError:
    if exc.status == RPCStatusCode.NOT_FOUND:
        return not_found(onboarding_id)
    return Unavailable("Cannot reach the workflow now.")


async def _finished_or_gone(
    handle: WorkflowHandle[OnboardingWorkflow, OnboardingView], onboarding_id: uuid.UUID
) -> AppError:
    """An update found no running workflow: a finished onboarding is a conflict saying so (its
    status still answers), one Temporal no longer knows is not found."""
    try:
        description = await handle.describe()
    except RPCError:
        return not_found(onboarding_id)
    state = description.status.name.lower() if description.status else "closed"
    return Conflict(
        f"This onboarding is finished (workflow {state}); it takes no more changes.",
        slug="onboarding-finished",
        title="Onboarding finished",
    )


async def update(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    onboarding_id: uuid.UUID,
    update: Any,
    args: tuple[Any, ...] = (),
) -> Any:
    """Send the firm's onboarding an update and wait for its answer; a validator's refusal is a
    Conflict with its reason."""
    handle = await _handle(pool, temporal, partner_id, onboarding_id)
    try:
        return await handle.execute_update(update, *args)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        detail = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise Conflict(detail) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise await _finished_or_gone(handle, onboarding_id) from exc
        raise _unavailable(exc, onboarding_id) from exc


# Any of the firm's users may send or reschedule an invitation (as the API always allowed).
INVITATION_ROLES = roles.ANY_ROLE


async def send_invitation_now(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    onboarding_id: uuid.UUID,
    role: Role,
) -> InvitationChanged:
    """Send the director's invitation now (manual, scheduled or cancelled). Twice is once: the
    workflow's send flag is set, not counted."""
    roles.require(role, INVITATION_ROLES)
    result: InvitationChanged = await update(
        pool,
        temporal,
        partner_id=partner_id,
        onboarding_id=onboarding_id,
        update=OnboardingWorkflow.send_invitation_now,
    )
    return result


async def reschedule_invitation(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    onboarding_id: uuid.UUID,
    role: Role,
    scheduled_at: datetime,
    now: datetime,
    horizon: timedelta,
) -> InvitationChanged:
    """Send the invitation at another time (refused in the past, too far ahead, or once sent)."""
    roles.require(role, INVITATION_ROLES)
    check_schedule(scheduled_at, now=now, horizon=horizon, field="scheduled_at")
    result: InvitationChanged = await update(
        pool,
        temporal,
        partner_id=partner_id,
        onboarding_id=onboarding_id,
        update=OnboardingWorkflow.reschedule_invitation,
        args=(RescheduleInvitationInput(scheduled_at=scheduled_at),),
    )
    return result


async def read_status(
    pool: Pool, temporal: Client, *, partner_id: uuid.UUID, onboarding_id: uuid.UUID
) -> ExplainedView:
    """Every step of one onboarding, with the attempts and next try of a retrying one."""
    row = await onboardings.get(pool, partner_id=partner_id, onboarding_id=onboarding_id)
    if row is None:
        raise not_found(onboarding_id)
    handle = temporal.get_workflow_handle_for(OnboardingWorkflow.run, row.workflow_id)
    try:
        # The query is the workflow's view; describe() is the server's, which alone knows an
        # activity's retries while they happen.
        view, description = await asyncio.gather(
            handle.query(OnboardingWorkflow.status), handle.describe()
        )
    except RPCError as exc:
        raise _unavailable(exc, onboarding_id) from exc
    pending = await decode_pending(
        description.raw_description.pending_activities, temporal.data_converter
    )
    return explain(view, pending, since=row.status_since)
