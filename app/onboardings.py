"""Use cases of onboardings: starting one (`start`, for POST /v1/onboardings and the console's
new-client form), its status, and the updates a person sends it (the invitation's send-now and
reschedule, and the rest through `update`)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from app import notifications, roles
from app import pricing as app_pricing
from app import setups as app_setups
from app.errors import (
    AppError,
    Conflict,
    FieldIssue,
    Invalid,
    NotFound,
    Unavailable,
    not_started,
)
from app.onboarding_status import explained_status
from core import task_failures, workflow_starts
from core.settings import Settings
from core.temporal import unreachable
from domain.onboarding import (
    CompanyDetails,
    InvitationChanged,
    OnboardingCreate,
    OnboardingStatus,
    OnboardingView,
    ProvideCompanyDetailsResult,
    RescheduleInvitationInput,
    ResumeResult,
    RetryIntegrationInput,
    RetryIntegrationResult,
    client_id_for,
    onboarding_id_for,
    onboarding_input_for,
    workflow_id_for,
)
from domain.setup import SECRET_MASK, Catalog, Role, SetupOverrides, mask_choices
from store import clients, onboardings
from store import pricing as pricing_store
from store.partners import PartnerRow
from store.pool import Pool
from workflows.onboarding import OnboardingWorkflow
from workflows.read_model import ExplainedView

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


def unavailable(exc: RPCError, onboarding_id: uuid.UUID) -> AppError:
    """What an RPC error about one onboarding means: gone, or Temporal unreachable."""
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
        raise unavailable(exc, onboarding_id) from exc


# Ops' commands act on any firm's onboarding with the rights of its administrator, through the
# same functions as the firm's own calls: the same checks (the schedule's horizon...), the same
# refusals.
OPERATOR_ROLE = Role.administrator


async def firm_of(pool: Pool, *, onboarding_id: uuid.UUID) -> uuid.UUID:
    """The firm of an onboarding named by ops (NotFound when there is none)."""
    partner_id = await onboardings.partner_of(pool, onboarding_id=onboarding_id)
    if partner_id is None:
        raise not_found(onboarding_id)
    return partner_id


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


async def retry_integration(
    pool: Pool,
    temporal: Client,
    *,
    partner_id: uuid.UUID,
    onboarding_id: uuid.UUID,
    role: Role,
    code: str,
) -> RetryIntegrationResult:
    """Try a failed integration again; answers once the new attempts are over (refused, a
    Conflict, when the integration has not failed, so a second submit retries nothing)."""
    roles.require(role, CARE_ROLES)
    result: RetryIntegrationResult = await update(
        pool,
        temporal,
        partner_id=partner_id,
        onboarding_id=onboarding_id,
        update=OnboardingWorkflow.retry_integration,
        args=(RetryIntegrationInput(code=code),),
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
    total: int  # exact up to onboardings.TOTAL_CAP (total_exact), then that cap
    total_exact: bool
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
    rows, total, exact = await onboardings.list_for_partner(
        pool,
        partner_id=partner_id,
        status=status.value if status else None,
        case_manager=case_manager,
        stuck_for=stuck_for,
        failing_workflow_ids=sorted(failing),
        limit=limit,
        offset=offset,
    )
    return OnboardingPage(rows=rows, total=total, total_exact=exact, failing=failing)


async def read_status(
    pool: Pool, temporal: Client, *, partner_id: uuid.UUID, onboarding_id: uuid.UUID
) -> ExplainedView:
    """Every step of one onboarding, with the attempts and next try of a retrying one; the
    database's status, flagged, when the workflow cannot answer (its task failing). The API's
    GET /v1/onboardings/{id} and the console's client page both read it here; the command line
    (no partner, maybe no database) reads the same `explained_status`."""
    row = await onboardings.get(pool, partner_id=partner_id, onboarding_id=onboarding_id)
    if row is None:
        raise not_found(onboarding_id)
    try:
        return await explained_status(
            temporal,
            row.workflow_id,
            onboarding_id=onboarding_id,
            projected_status=row.status,
            since=row.status_since,
        )
    except RPCError as exc:
        raise unavailable(exc, onboarding_id) from exc


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


# -- starting one -------------------------------------------------------------------------------

# Any of the firm's users may start an onboarding (as the API always allowed).
START_ROLES = roles.ANY_ROLE


@dataclass(frozen=True)
class Started:
    """An onboarding started (or found again under the same idempotency key: `replayed`)."""

    onboarding_id: uuid.UUID
    workflow_id: str
    status: str
    replayed: bool


def parse_request(data: dict[str, Any]) -> OnboardingCreate:
    """The start request from a form's fields: Invalid names each field at fault as the API does
    (`client.siret`), with the validator's kind of error as its code."""
    try:
        return OnboardingCreate.model_validate(data)
    except ValidationError as exc:
        issues = tuple(
            FieldIssue(
                ".".join(str(part) for part in error["loc"]),
                # The validator's message, which may quote the value: never logged, only shown
                # back to the person who typed it.
                error["msg"],
                "checksum" if "checksum" in error["msg"] else error["type"],
            )
            for error in exc.errors(include_url=False, include_input=False)
        )
        names = ", ".join(sorted({i.field for i in issues}))
        raise Invalid(f"Invalid field(s): {names}", errors=issues) from None


def split_secrets(
    overrides: SetupOverrides, catalog: Catalog
) -> tuple[SetupOverrides, dict[str, dict[str, Any]]]:
    """Take secret settings out of the overrides: (masked overrides, {app: {setting: value}})."""
    secrets: dict[str, dict[str, Any]] = {}
    for choice in overrides.integrations:
        names = catalog.secret_names(choice.code)
        kept = {k: v for k, v in choice.settings.items() if k in names and v != SECRET_MASK}
        if kept:
            secrets[choice.code] = kept
    masked = mask_choices(overrides.integrations, catalog)
    return overrides.model_copy(update={"integrations": masked}), secrets


async def start(
    pool: Pool,
    temporal: Client,
    settings: Settings,
    *,
    partner: PartnerRow,
    user_id: uuid.UUID,
    role: Role,
    body: OnboardingCreate,
    idempotency_key: str | None,
    now: datetime,
) -> Started:
    """Start onboarding a client. The same idempotency key (per firm) is the same onboarding,
    however often it is asked; with another body it is a Conflict."""
    roles.require(role, START_ROLES)
    check_schedule(
        body.invitation.scheduled_at,
        now=now,
        horizon=timedelta(days=settings.invitation_horizon_days),
        field="invitation.scheduled_at",
    )
    # Fail fast: a setup that cannot resolve is refused now, not a failed workflow later. One
    # round trip: the workflow reads the same sources again when it resolves the setup.
    _, effective, catalog = await app_setups.resolve(
        pool, partner_id=partner.id, template_id=body.template_id, overrides=body.overrides
    )
    # Only a payer chosen for this client needs confirming here: a template's or the billing
    # defaults' was confirmed when it was saved.
    acknowledgement = await app_pricing.confirmed_payment(
        pool,
        partner_id=partner.id,
        user_id=user_id,
        payer=body.overrides.payer,
        acknowledged=body.pricing_acknowledged,
        plan=effective.plan,
        add_ons=effective.add_ons,
        period=effective.billing_period,
    )
    masked_overrides, secrets = split_secrets(body.overrides, catalog)
    keep_muted = await notifications.keeps_muted(
        pool, partner_id=partner.id, requested=body.notifications.keep_muted
    )
    key = idempotency_key or str(uuid.uuid4())
    onboarding_id = onboarding_id_for(partner.id, key)
    workflow_id = workflow_id_for(onboarding_id)
    row, created = await onboardings.claim(
        pool,
        onboarding_id=onboarding_id,
        partner_id=partner.id,
        idempotency_key=key,
        request_hash=body.fingerprint(),
        workflow_id=workflow_id,
        status=OnboardingStatus.SETTING_UP.value,
        created_by=user_id,
        secrets=secrets,
        case_manager=body.client.case_manager,
        start_pending=True,
    )
    if row.request_hash != body.fingerprint():
        raise Conflict(
            "This Idempotency-Key was used for a different request body.",
            slug="idempotency-key-reused",
            title="Idempotency-Key already used",
        )
    if acknowledgement is not None:
        await pricing_store.record_acknowledgement(
            pool,
            subject="onboarding",
            subject_id=onboarding_id,
            subject_version=None,
            acknowledgement=acknowledgement,
        )
    # Started even when the row already existed: a previous attempt may have written the row and
    # then failed before reaching Temporal. The fixed workflow id makes this safe to repeat.
    data = onboarding_input_for(
        body,
        onboarding_id=onboarding_id,
        partner_id=partner.id,
        partner_name=partner.name,
        today=row.created_at.date(),
        overrides=masked_overrides,
        registry_task_queue=settings.registry_task_queue,
        timeouts=settings.onboarding_timeouts(),
        keep_muted=keep_muted,
    )
    try:
        # A run that finished under this id is that onboarding: the retried request gets it.
        await workflow_starts.start(
            temporal,
            workflow_starts.onboarding(data, status_since=row.created_at),
            task_queue=settings.task_queue,
        )
    except Exception as exc:
        await _release_unless_started(
            pool, temporal, onboarding_id=onboarding_id, workflow_id=workflow_id
        )
        if isinstance(exc, workflow_starts.StartFailed):
            raise not_started(
                exc,
                what="onboarding",
                unavailable="Cannot start the onboarding now; retry with the same Idempotency-Key.",
                again="retry with the same Idempotency-Key",
            ) from exc
        raise
    await onboardings.mark_started(pool, onboarding_id=onboarding_id)
    return Started(
        onboarding_id=onboarding_id,
        workflow_id=workflow_id,
        status=row.status,
        replayed=not created,
    )


async def _release_unless_started(
    pool: Pool, temporal: Client, *, onboarding_id: uuid.UUID, workflow_id: str
) -> None:
    """After a failed start, give the claim back if Temporal has no such workflow.

    The start may have failed after Temporal accepted it (a lost answer), so the workflow is
    looked up first. When even that fails, the claim stays pending: invisible to reads and lists,
    and the caller's retry with the same idempotency key finishes the start. (A Temporal never
    reached fails the look-up too, with the lazy client's RuntimeError: the start's own answer
    is still the one given.)
    """
    try:
        await temporal.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            await onboardings.release(pool, onboarding_id=onboarding_id)
        return
    except RuntimeError as exc:
        if unreachable(exc):
            return
        raise
    await onboardings.mark_started(pool, onboarding_id=onboarding_id)
