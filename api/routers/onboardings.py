"""/v1/onboardings: start an onboarding, follow it, and unblock it when it waits for a person."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, status
from pydantic import BaseModel, Field

from api.deps import AnyRoleDep, PageDep, PoolDep, ServicesDep, TemporalDep
from api.pagination import PageOf
from api.problems import problem_responses
from app import onboardings as app_onboardings
from app.errors import Invalid
from domain import durations
from domain.onboarding import (
    CompanyDetails,
    InvitationChanged,
    OnboardingCreate,
    OnboardingStatus,
    ProvideCompanyDetailsResult,
    RescheduleInvitationInput,
    ResumeResult,
    RetryIntegrationResult,
)
from domain.text import Text
from workflows.read_model import ExplainedView

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/onboardings", tags=["onboardings"])
# An update reaches a workflow: gone (404), finished or refused by its validator (409), or
# Temporal out of reach (503).
UPDATE_PROBLEMS = problem_responses(404, 409, 503)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retrying a POST with the same key returns the same onboarding.",
    ),
]


class OnboardingAccepted(BaseModel):
    id: uuid.UUID
    workflow_id: str
    status: str
    status_url: str


class OnboardingSummary(BaseModel):
    id: uuid.UUID
    status: str
    workflow_id: str
    case_manager: str | None
    created_at: datetime
    updated_at: datetime
    since: datetime = Field(description="When the status last changed")
    workflow_task_failing: bool = Field(
        default=False,
        description="The workflow's task keeps failing (as Temporal reports it): the onboarding "
        "cannot move; its GET says why. Filled in the stuck list (stuck_for) only",
    )


IntegrationCode = Annotated[Text, Path(max_length=63, description="The integration's code")]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OnboardingAccepted,
    responses=problem_responses(409, 503),
)
async def create_onboarding(
    body: OnboardingCreate,
    response: Response,
    services: ServicesDep,
    caller: AnyRoleDep,
    idempotency_key: IdempotencyKey = None,
) -> OnboardingAccepted:
    """Start onboarding a client; answers at once with the onboarding's id and status URL."""
    started = await app_onboardings.start(
        services.pool,
        services.temporal,
        services.settings,
        partner=caller.partner,
        user_id=caller.user.id,
        role=caller.user.role,
        body=body,
        idempotency_key=idempotency_key,
        now=datetime.now(UTC),
    )
    if started.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    status_url = f"/v1/onboardings/{started.onboarding_id}"
    response.headers["Location"] = status_url
    return OnboardingAccepted(
        id=started.onboarding_id,
        workflow_id=started.workflow_id,
        status=started.status,
        status_url=status_url,
    )


@router.get("/{onboarding_id}", response_model=ExplainedView, responses=problem_responses(404, 503))
async def read_onboarding(
    onboarding_id: uuid.UUID, pool: PoolDep, temporal: TemporalDep, caller: AnyRoleDep
) -> ExplainedView:
    """Every step of one onboarding, with the attempts and next try of a retrying one; the
    database's status, flagged, when the workflow cannot answer (its task failing)."""
    return await app_onboardings.read_status(
        pool, temporal, partner_id=caller.partner.id, onboarding_id=onboarding_id
    )


@router.post(
    "/{onboarding_id}/company-details",
    response_model=ProvideCompanyDetailsResult,
    responses=UPDATE_PROBLEMS,
)
async def create_company_details(
    onboarding_id: uuid.UUID,
    body: CompanyDetails,
    pool: PoolDep,
    temporal: TemporalDep,
    caller: AnyRoleDep,
) -> ProvideCompanyDetailsResult:
    """Give the company data by hand to an onboarding waiting for it (AWAITING_COMPANY_DETAILS)."""
    return await app_onboardings.provide_company_details(
        pool,
        temporal,
        partner_id=caller.partner.id,
        onboarding_id=onboarding_id,
        role=caller.user.role,
        details=body,
    )


@router.post(
    "/{onboarding_id}/integrations/{code}/retry",
    response_model=RetryIntegrationResult,
    responses=UPDATE_PROBLEMS,
)
async def create_integration_retry(
    onboarding_id: uuid.UUID,
    code: IntegrationCode,
    pool: PoolDep,
    temporal: TemporalDep,
    caller: AnyRoleDep,
) -> RetryIntegrationResult:
    """Try a failed integration again; answers once the new attempts are over."""
    return await app_onboardings.retry_integration(
        pool,
        temporal,
        partner_id=caller.partner.id,
        onboarding_id=onboarding_id,
        role=caller.user.role,
        code=code,
    )


@router.post("/{onboarding_id}/resume", response_model=ResumeResult, responses=UPDATE_PROBLEMS)
async def create_resume(
    onboarding_id: uuid.UUID, pool: PoolDep, temporal: TemporalDep, caller: AnyRoleDep
) -> ResumeResult:
    """Try a stalled step again (NEEDS_ATTENTION), once its cause is fixed."""
    return await app_onboardings.resume(
        pool,
        temporal,
        partner_id=caller.partner.id,
        onboarding_id=onboarding_id,
        role=caller.user.role,
    )


@router.post(
    "/{onboarding_id}/invitation/send", response_model=InvitationChanged, responses=UPDATE_PROBLEMS
)
async def create_invitation_send(
    onboarding_id: uuid.UUID, pool: PoolDep, temporal: TemporalDep, caller: AnyRoleDep
) -> InvitationChanged:
    """Send the director's invitation now (manual, scheduled or cancelled)."""
    return await app_onboardings.send_invitation_now(
        pool,
        temporal,
        partner_id=caller.partner.id,
        onboarding_id=onboarding_id,
        role=caller.user.role,
    )


@router.post(
    "/{onboarding_id}/invitation/reschedule",
    response_model=InvitationChanged,
    responses=UPDATE_PROBLEMS,
)
async def create_invitation_reschedule(
    onboarding_id: uuid.UUID,
    body: RescheduleInvitationInput,
    services: ServicesDep,
    pool: PoolDep,
    temporal: TemporalDep,
    caller: AnyRoleDep,
) -> InvitationChanged:
    """Send the invitation at another time (with a timezone; refused in the past or once sent)."""
    return await app_onboardings.reschedule_invitation(
        pool,
        temporal,
        partner_id=caller.partner.id,
        onboarding_id=onboarding_id,
        role=caller.user.role,
        scheduled_at=body.scheduled_at,
        now=datetime.now(UTC),
        horizon=timedelta(days=services.settings.invitation_horizon_days),
    )


@router.post(
    "/{onboarding_id}/invitation/cancel",
    response_model=InvitationChanged,
    responses=UPDATE_PROBLEMS,
)
async def create_invitation_cancel(
    onboarding_id: uuid.UUID, pool: PoolDep, temporal: TemporalDep, caller: AnyRoleDep
) -> InvitationChanged:
    """Do not send the invitation (send-now or reschedule can bring it back)."""
    return await app_onboardings.cancel_invitation(
        pool,
        temporal,
        partner_id=caller.partner.id,
        onboarding_id=onboarding_id,
        role=caller.user.role,
    )


@router.post(
    "/{onboarding_id}/invitation/resend",
    response_model=InvitationChanged,
    responses=UPDATE_PROBLEMS,
)
async def create_invitation_resend(
    onboarding_id: uuid.UUID, pool: PoolDep, temporal: TemporalDep, caller: AnyRoleDep
) -> InvitationChanged:
    """Send a new invitation after an expiry or a bounce (the old link stops working)."""
    return await app_onboardings.resend_invitation(
        pool,
        temporal,
        partner_id=caller.partner.id,
        onboarding_id=onboarding_id,
        role=caller.user.role,
    )


class OnboardingsPage(PageOf[OnboardingSummary]):
    """A page of onboardings; `total` is exact up to 1,000 matches (`total_exact`), past that
    it says "at least 1,000"."""

    total_exact: bool = True


@router.get("", response_model=OnboardingsPage)
async def read_onboardings(
    pool: PoolDep,
    temporal: TemporalDep,
    caller: AnyRoleDep,
    page: PageDep,
    status_filter: Annotated[OnboardingStatus | None, Query(alias="status")] = None,
    case_manager: Annotated[
        Text | None, Query(max_length=100, description="The case-manager tag")
    ] = None,
    stuck_for: Annotated[
        Text | None,
        Query(
            max_length=40,
            description="Only unfinished onboardings whose status has not changed for this long "
            "(ISO 8601 duration, e.g. PT48H or P2D), the longest-stuck first",
            examples=["PT48H"],
        ),
    ] = None,
) -> OnboardingsPage:
    """A partner's onboardings, newest first (or stuck ones, with those whose workflow task
    keeps failing however recent), from the database projection."""
    stuck_after = _duration(stuck_for, field="stuck_for")
    found = await app_onboardings.list_onboardings(
        pool,
        temporal,
        partner_id=caller.partner.id,
        status=status_filter,
        case_manager=case_manager,
        stuck_for=stuck_after,
        limit=page.limit,
        offset=page.offset,
    )
    rows, total, failing = found.rows, found.total, found.failing
    return OnboardingsPage(
        items=[
            OnboardingSummary(
                id=r.id,
                status=r.status,
                workflow_id=r.workflow_id,
                case_manager=r.case_manager,
                created_at=r.created_at,
                updated_at=r.updated_at,
                since=r.status_since,
                workflow_task_failing=r.workflow_id in failing,
            )
            for r in rows
        ],
        total=total,
        total_exact=found.total_exact,
        limit=page.limit,
        offset=page.offset,
    )


def _duration(text: str | None, *, field: str) -> timedelta | None:
    if text is None:
        return None
    try:
        return durations.parse_iso(text)
    except ValueError as exc:
        raise Invalid.field(field, f"{field} {exc}") from None
