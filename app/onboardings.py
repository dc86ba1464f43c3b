"""Use cases on one running onboarding: its status, and the updates a person sends it (the
invitation's send-now and reschedule, and the rest through `update`)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from app import roles
from app.errors import AppError, Conflict, Invalid, NotFound, Unavailable
from core import task_failures
from domain.onboarding import (
    CompanyDetails,
    InvitationChanged,
    OnboardingStatus,
    OnboardingView,
    ProvideCompanyDetailsResult,
    RescheduleInvitationInput,
    ResumeResult,
    client_id_for,
)
from domain.setup import Role
from store import clients, onboardings
from store.pool import Pool
from workflows.onboarding import OnboardingWorkflow
from workflows.status_merge import ExplainedView, decode_pending, explain

log = logging.getLogger(__name__)


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


async def cancel_invitation(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    onboarding_id: uuid.UUID,
    role: Role,
) -> InvitationChanged:
    """Do not send the invitation (send-now or reschedule bring it back). Twice is once: the
    second finds it cancelled already."""
    roles.require(role, INVITATION_ROLES)
    result: InvitationChanged = await update(
        pool,
        temporal,
        partner_id=partner_id,
        onboarding_id=onboarding_id,
        update=OnboardingWorkflow.cancel_invitation,
    )
    return result


async def resend_invitation(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    onboarding_id: uuid.UUID,
    role: Role,
) -> InvitationChanged:
    """Send a new invitation after an expiry or a bounce (the old link stops working); refused
    otherwise, so a second submit finds the new one on its way and sends nothing more."""
    roles.require(role, INVITATION_ROLES)
    result: InvitationChanged = await update(
        pool,
        temporal,
        partner_id=partner_id,
        onboarding_id=onboarding_id,
        update=OnboardingWorkflow.resend_invitation,
    )
    return result


# Any of the firm's users may give company details or resume a stalled step (as the API did).
CARE_ROLES = roles.ANY_ROLE


async def provide_company_details(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    onboarding_id: uuid.UUID,
    role: Role,
    details: CompanyDetails,
) -> ProvideCompanyDetailsResult:
    """Give the company data by hand to an onboarding waiting for it (AWAITING_COMPANY_DETAILS);
    refused (Conflict) by one that is not waiting."""
    roles.require(role, CARE_ROLES)
    result: ProvideCompanyDetailsResult = await update(
        pool,
        temporal,
        partner_id=partner_id,
        onboarding_id=onboarding_id,
        update=OnboardingWorkflow.provide_company_details,
        args=(details,),
    )
    return result


async def resume(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    onboarding_id: uuid.UUID,
    role: Role,
) -> ResumeResult:
    """Try a stalled step again (NEEDS_ATTENTION) once its cause is fixed; refused (Conflict) by
    an onboarding not stalled, so a second submit resumes nothing more."""
    roles.require(role, CARE_ROLES)
    result: ResumeResult = await update(
        pool,
        temporal,
        partner_id=partner_id,
        onboarding_id=onboarding_id,
        update=OnboardingWorkflow.resume,
    )
    return result


async def failing_workflow_ids(temporal: Client, *, partner_id: uuid.UUID) -> set[str]:
    """The firm's onboardings whose workflow task keeps failing; none when Temporal does not
    answer (the stuck list is the database's and must not fail with Temporal)."""
    try:
        async with asyncio.timeout(3):
            return await task_failures.failing_workflow_ids(temporal, partner_id=partner_id)
    except (RPCError, TimeoutError):
        log.warning("stuck list: Temporal did not say which workflow tasks fail")
        return set()


@dataclass(frozen=True)
class OnboardingPage:
    rows: list[onboardings.OnboardingRow]
    total: int
    # Workflow ids whose task keeps failing (asked only for a stuck list).
    failing: set[str]


async def list_onboardings(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    status: OnboardingStatus | None = None,
    case_manager: str | None = None,
    stuck_for: timedelta | None = None,
    limit: int,
    offset: int,
) -> OnboardingPage:
    """The firm's onboardings, newest first; with `stuck_for`, the unfinished ones whose status
    has not changed for that long, longest-stuck first, and those whose workflow task keeps
    failing however recent."""
    failing = await failing_workflow_ids(temporal, partner_id=partner_id) if stuck_for else set()
    rows, total = await onboardings.list_for_partner(
        pool,
        partner_id=partner_id,
        status=status.value if status else None,
        case_manager=case_manager,
        stuck_for=stuck_for,
        failing_workflow_ids=sorted(failing),
        limit=limit,
        offset=offset,
    )
    return OnboardingPage(rows=rows, total=total, failing=failing)


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


@dataclass(frozen=True)
class AttentionRow:
    onboarding_id: uuid.UUID
    status: str
    since: datetime
    case_manager: str | None
    # None while the client is not created yet (its company details are awaited, say).
    client_name: str | None


@dataclass(frozen=True)
class AttentionList:
    rows: list[AttentionRow]
    total: int


@dataclass(frozen=True)
class Attention:
    """What waits for someone in a firm: the stuck list, and one list per waiting status."""

    stuck: AttentionList
    failing: AttentionList
    awaiting_details: AttentionList
    waiting_for_unmute: AttentionList
    needs_attention: AttentionList


async def _named(
    pool: Pool, partner_id: uuid.UUID, rows: list[onboardings.OnboardingRow]
) -> list[AttentionRow]:
    named = []
    for row in rows:
        client = await clients.get_for_partner(
            pool, partner_id=partner_id, client_id=client_id_for(row.id)
        )
        named.append(
            AttentionRow(
                onboarding_id=row.id,
                status=row.status,
                since=row.status_since,
                case_manager=row.case_manager,
                client_name=client.name if client is not None else None,
            )
        )
    return named


async def needing_attention(
    pool: Pool, temporal: Client, *, partner_id: uuid.UUID, stuck_for: timedelta, limit: int
) -> Attention:
    """The firm's onboardings that wait for someone: stuck past `stuck_for` (the API's stuck
    list, those whose workflow task fails apart), waiting for company details, kept muted
    waiting for unmute, and parked in NEEDS_ATTENTION (to resume); each list's first `limit`."""
    stuck = await list_onboardings(
        pool, temporal, partner_id=partner_id, stuck_for=stuck_for, limit=limit, offset=0
    )
    failing = [r for r in stuck.rows if r.workflow_id in stuck.failing]
    slow = [r for r in stuck.rows if r.workflow_id not in stuck.failing]

    async def of(status: OnboardingStatus) -> AttentionList:
        page = await list_onboardings(
            pool, temporal, partner_id=partner_id, status=status, limit=limit, offset=0
        )
        return AttentionList(rows=await _named(pool, partner_id, page.rows), total=page.total)

    return Attention(
        stuck=AttentionList(
            rows=await _named(pool, partner_id, slow), total=stuck.total - len(failing)
        ),
        failing=AttentionList(rows=await _named(pool, partner_id, failing), total=len(failing)),
        awaiting_details=await of(OnboardingStatus.AWAITING_COMPANY_DETAILS),
        waiting_for_unmute=await of(OnboardingStatus.WAITING_FOR_UNMUTE),
        needs_attention=await of(OnboardingStatus.NEEDS_ATTENTION),
    )
