"""/v1/clients: a partner's clients after onboarding: list, read, change (contact, tags,
subscription, collaborators); what was applied at creation; erasing personal data."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.client_access import client_not_found
from api.deps import (
    AdminDep,
    AnyRoleDep,
    ConfigurerDep,
    PageDep,
    PoolDep,
    ServicesDep,
    TemporalDep,
)
from api.pagination import PageOf
from api.problems import FieldError, ProblemError, problem_responses
from app import checklists as app_checklists
from app import clients as app_clients
from app import collaborators as app_collaborators
from app import erasure as app_erasure
from app import subscriptions as app_subscriptions
from app.errors import Invalid
from domain.checklists import ChecklistProgress
from domain.clients import (
    ClientPatch,
    ClientSort,
    CollaboratorsIn,
    SubscriptionIn,
    UserOrMe,
    forbidden_fields,
    user_of,
)
from domain.exact import ExactDateTime
from domain.identifiers import BeEnterpriseNumber
from domain.onboarding import (
    InvitationState,
    Language,
    OnboardingStatus,
    SetNotificationsInput,
)
from domain.pricing import MonthlyCost
from domain.setup import BillingPeriod, EffectiveSetup, Payer
from domain.text import Text
from store import clients, erasure, subscriptions
from store import setup_sources as setup_store
from store.pool import Pool

router = APIRouter(prefix="/v1/clients", tags=["clients"])


class ClientSetup(BaseModel):
    client_id: uuid.UUID
    template_id: uuid.UUID | None
    template_version: int | None
    setup: EffectiveSetup | None


@router.get("/{client_id}/setup", response_model=ClientSetup, responses=problem_responses(404))
async def read_client_setup(client_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep) -> ClientSetup:
    """The setup snapshot the client was created with; later template edits do not change it."""
    row = await clients.get_for_partner(pool, partner_id=caller.partner.id, client_id=client_id)
    if row is None:
        raise ProblemError(404, "not-found", "Not found", f"No client {client_id}")
    kept: dict[str, Any] | None = row.setup
    setup = EffectiveSetup.model_validate(kept) if kept else None
    if setup is not None:
        # Masked when written, and again now: a setting declared secret since (or a snapshot
        # written before secrets were remembered, issue 20) is not shown either.
        setup = setup.masked(await setup_store.load_catalog(pool, partner_id=caller.partner.id))
    return ClientSetup(
        client_id=row.id,
        template_id=row.template_id,
        template_version=row.template_version,
        setup=setup,
    )


class ErasurePublic(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    requested_by: uuid.UUID = Field(description="The administrator who asked for it")
    erased_at: datetime
    onboarding: Literal["cancelled", "not_running"] = Field(
        description="What became of the client's onboarding: its workflow was cancelled, or it "
        "had already finished"
    )
    tables: dict[str, int] = Field(description="Rows scrubbed per table")


def _erasure_public(row: erasure.ErasureRow) -> ErasurePublic:
    return ErasurePublic(
        id=row.id,
        client_id=row.client_id,
        requested_by=row.requested_by,
        erased_at=row.erased_at,
        onboarding="cancelled" if row.onboarding == "cancelled" else "not_running",
        tables=row.tables,
    )


@router.delete(
    "/{client_id}/personal-data",
    response_model=ErasurePublic,
    responses=problem_responses(403, 404, 503),
)
async def delete_client_personal_data(
    client_id: uuid.UUID, caller: AdminDep, pool: PoolDep, temporal: TemporalDep
) -> ErasurePublic:
    """Erase the client's personal data (right to erasure); a second call changes nothing."""
    row = await app_erasure.erase_personal_data(
        pool,
        temporal,
        partner_id=caller.partner.id,
        client_id=client_id,
        role=caller.user.role,
        requested_by=caller.user.id,
    )
    return _erasure_public(row)


# ---- the client as a resource ------------------------------------------------------------------


def _invalid(field: str, message: str) -> Invalid:
    return Invalid.field(field, message)


class InvitationPublic(BaseModel):
    state: InvitationState
    scheduled_at: datetime | None = Field(
        description="When it is planned for, while it waits for a time (UTC)"
    )


class OnboardingRef(BaseModel):
    id: uuid.UUID
    status: OnboardingStatus = Field(description="From the database projection of the workflow")
    status_url: str


class ClientSummary(BaseModel):
    id: uuid.UUID
    name: str
    company_name: str | None = Field(description="The company's name in the registry")
    siret: str | None
    enterprise_number: str | None = Field(description="Belgian enterprise number, 10 digits")
    status: Literal["setting_up", "ready"] = Field(description="The client's setup")
    onboarding: OnboardingRef
    case_manager: str | None
    tags: list[str]
    notifications_muted: bool
    invitation: InvitationPublic
    created_at: datetime
    erased: bool = Field(description="Its personal data was erased")


def _status(value: str) -> Literal["setting_up", "ready"]:
    return "ready" if value == "ready" else "setting_up"


def _summary(row: clients.ClientListRow) -> ClientSummary:
    return ClientSummary(
        id=row.id,
        name=row.name,
        company_name=row.company_name,
        siret=row.siret,
        enterprise_number=row.enterprise_number,
        status=_status(row.status),
        onboarding=OnboardingRef(
            id=row.onboarding_id,
            status=OnboardingStatus(row.onboarding_status),
            status_url=f"/v1/onboardings/{row.onboarding_id}",
        ),
        case_manager=row.case_manager,
        tags=row.tags,
        notifications_muted=row.notifications_muted,
        invitation=InvitationPublic(
            state=InvitationState(row.invitation_state), scheduled_at=row.invitation_scheduled_at
        ),
        created_at=row.created_at,
        erased=row.erased_at is not None,
    )


class ClientPage(PageOf[ClientSummary]):
    """A page of clients. `total` is exact up to 1,000 matches (`total_exact`); past that it
    says "at least 1,000". `next_cursor`, given back as `cursor`, reads the next page at the
    cost of one page however deep (`offset` reads and skips every row before)."""

    total_exact: bool = True
    next_cursor: str | None = None


@router.get("", response_model=ClientPage, responses=problem_responses(422))
async def read_clients(
    pool: PoolDep,
    caller: AnyRoleDep,
    page: PageDep,
    case_manager: Annotated[
        Text | None, Query(max_length=100, description="The case-manager tag")
    ] = None,
    tag: Annotated[Text | None, Query(max_length=50, description="Clients with this tag")] = None,
    status_filter: Annotated[
        OnboardingStatus | None, Query(alias="status", description="The onboarding's status")
    ] = None,
    muted: Annotated[bool | None, Query(description="Notifications off (true) or on")] = None,
    invitation_state: Annotated[InvitationState | None, Query()] = None,
    scheduled_from: Annotated[
        ExactDateTime | None,
        Query(description="Invitations scheduled at or after (with zone)"),
    ] = None,
    scheduled_to: Annotated[
        ExactDateTime | None,
        Query(description="Invitations scheduled at or before (with zone)"),
    ] = None,
    q: Annotated[
        Text | None,
        Query(
            min_length=1,
            max_length=200,
            description="Part of the name, company, SIRET or enterprise number",
        ),
    ] = None,
    enterprise_number: Annotated[
        BeEnterpriseNumber | None,
        Query(description="The Belgian enterprise number, in any usual spelling"),
    ] = None,
    sort: Annotated[ClientSort, Query(description="Order; a leading '-' is descending")] = (
        ClientSort.created_at_desc
    ),
    collaborator: Annotated[
        UserOrMe | None,
        Query(
            description="Only the clients this partner user collaborates on: a user id, or "
            "`me` for the key's own user (another firm's user finds none)"
        ),
    ] = None,
    cursor: Annotated[
        Text | None,
        Query(
            min_length=1,
            max_length=1000,
            description="The previous page's next_cursor (same filters and sort; no offset)",
        ),
    ] = None,
) -> ClientPage:
    """A partner's clients ("My clients"), filtered, searched, sorted and paged."""
    listed = await app_clients.list_clients(
        pool,
        partner_id=caller.partner.id,
        filters=app_clients.ClientFilters(
            case_manager=case_manager,
            tag=tag,
            onboarding_status=status_filter.value if status_filter else None,
            muted=muted,
            invitation_state=invitation_state.value if invitation_state else None,
            scheduled_from=scheduled_from,
            scheduled_to=scheduled_to,
            q=q,
            enterprise_number=enterprise_number,
            collaborator=user_of(collaborator, me=caller.user.id) if collaborator else None,
        ),
        sort=sort.value,
        limit=page.limit,
        offset=page.offset,
        cursor=cursor,
    )
    return ClientPage(
        items=[_summary(r) for r in listed.rows],
        total=listed.total,
        total_exact=listed.total_exact,
        next_cursor=listed.next_cursor,
        limit=page.limit,
        offset=page.offset,
    )


class SubscriptionRevision(BaseModel):
    revision: int
    plan: str | None
    add_ons: list[str]
    payer: Payer
    billing_period: BillingPeriod
    effective_from: date
    source: Literal["onboarding", "change"] = Field(
        description="Applied by the onboarding, or changed afterwards"
    )
    changed_by: uuid.UUID | None = Field(description="The partner user who changed it")
    recorded_at: datetime


def _revision(row: subscriptions.RevisionRow) -> SubscriptionRevision:
    return SubscriptionRevision(
        revision=row.revision,
        plan=row.plan,
        add_ons=row.add_ons,
        payer=Payer(row.payer),
        billing_period=BillingPeriod(row.billing_period),
        effective_from=row.effective_from,
        source="onboarding" if row.source == "onboarding" else "change",
        changed_by=row.changed_by,
        recorded_at=row.recorded_at,
    )


class ClientUser(BaseModel):
    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    role: str
    themes: list[str]


class CollaboratorPublic(BaseModel):
    user_id: uuid.UUID
    name: str
    email: str
    role: str
    since: datetime


class IntegrationPublic(BaseModel):
    code: str
    kind: str
    state: str
    attempts: int
    connected_at: datetime | None


class FiscalYearPublic(BaseModel):
    start: date
    end: date


class ClientPublic(ClientSummary):
    first_name: str | None
    last_name: str | None
    email: str
    language: Language
    address: str | None
    company: dict[str, Any] | None = Field(description="The company as the registry described it")
    updated_at: datetime
    template_id: uuid.UUID | None
    template_version: int | None
    setup: EffectiveSetup | None = Field(
        description="The setup snapshot the client was created with; template edits never change it"
    )
    subscription: SubscriptionRevision | None = Field(description="The subscription in force today")
    collaborators: list[CollaboratorPublic]
    users: list[ClientUser] = Field(description="The client's own users (its director)")
    integrations: list[IntegrationPublic]
    fiscal_years: list[FiscalYearPublic]
    folder_count: int
    monthly_cost: MonthlyCost | None = Field(
        default=None,
        description="What the subscription in force costs a month (the firm's special rates "
        "first; annual billing as its monthly equivalent); none without a plan",
    )


async def _client_public(pool: Pool, partner_id: uuid.UUID, client_id: uuid.UUID) -> ClientPublic:
    return client_public(
        await app_clients.read_client(pool, partner_id=partner_id, client_id=client_id)
    )


def client_public(view: app_clients.ClientView) -> ClientPublic:
    """The JSON face of one client's view."""
    row = view.row
    kept: dict[str, Any] | None = row.setup
    return ClientPublic(
        **_summary(view.listed).model_dump(),
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        language=Language(row.language),
        address=row.address,
        company=row.company,
        updated_at=view.listed.updated_at,
        template_id=row.template_id,
        template_version=row.template_version,
        setup=EffectiveSetup.model_validate(kept) if kept else None,
        subscription=_revision(view.subscription) if view.subscription else None,
        collaborators=[CollaboratorPublic(**vars(c)) for c in view.collaborators],
        users=[ClientUser(**u) for u in view.users],
        integrations=[
            IntegrationPublic(
                code=i.code,
                kind=i.kind,
                state=i.state,
                attempts=i.attempts,
                connected_at=i.connected_at,
            )
            for i in view.integrations
        ],
        fiscal_years=[
            FiscalYearPublic(start=f.starts_on, end=f.ends_on) for f in view.fiscal_years
        ],
        folder_count=view.folder_count,
        monthly_cost=view.monthly_cost,
    )


@router.get("/{client_id}", response_model=ClientPublic, responses=problem_responses(404))
async def read_client(client_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep) -> ClientPublic:
    """Everything about one client: contact, setup, subscription, users, where it stands."""
    return await _client_public(pool, caller.partner.id, client_id)


@router.patch(
    "/{client_id}", response_model=ClientPublic, responses=problem_responses(403, 404, 409, 422)
)
async def update_client(
    client_id: uuid.UUID, body: ClientPatch, caller: AnyRoleDep, pool: PoolDep
) -> ClientPublic:
    """Change the client's contact, address, name, case manager, tags or language."""
    refused = forbidden_fields(caller.user.role, body)
    if refused:
        raise ProblemError(
            403,
            "forbidden",
            "Not allowed",
            f"A {caller.user.role.value} may change the contact fields and tags only.",
            errors=[
                FieldError(field=f, message="needs the role administrator or client_manager")
                for f in refused
            ],
        )
    try:
        row = await clients.update_fields(
            pool, partner_id=caller.partner.id, client_id=client_id, changes=body.changes()
        )
    except clients.ClientErased as exc:
        raise app_clients.erased(client_id) from exc
    if row is None:
        raise client_not_found(client_id)
    return await _client_public(pool, caller.partner.id, client_id)


@router.put(
    "/{client_id}/subscription",
    response_model=SubscriptionRevision,
    responses=problem_responses(403, 404, 409, 422),
)
async def update_client_subscription(
    client_id: uuid.UUID, body: SubscriptionIn, caller: ConfigurerDep, pool: PoolDep
) -> SubscriptionRevision:
    """Change the client's subscription (plan, add-ons, payer, period) from a date (today)."""
    row = await app_subscriptions.change(
        pool,
        partner_id=caller.partner.id,
        client_id=client_id,
        role=caller.user.role,
        changed_by=caller.user.id,
        body=body,
        today=datetime.now(UTC).date(),
    )
    return _revision(row)


@router.get(
    "/{client_id}/subscription/history",
    response_model=PageOf[SubscriptionRevision],
    responses=problem_responses(404),
)
async def read_client_subscription_history(
    client_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep, page: PageDep
) -> PageOf[SubscriptionRevision]:
    """Every subscription the client had and from when, in the order they were recorded."""
    rows, total = await app_subscriptions.history(
        pool,
        partner_id=caller.partner.id,
        client_id=client_id,
        limit=page.limit,
        offset=page.offset,
    )
    return PageOf(
        items=[_revision(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


class CollaboratorsChanged(BaseModel):
    user_ids: list[uuid.UUID] = Field(description="The client's collaborators now")
    added: list[uuid.UUID]
    removed: list[uuid.UUID]


@router.put(
    "/{client_id}/collaborators",
    response_model=CollaboratorsChanged,
    responses=problem_responses(403, 404, 409, 422),
)
async def update_client_collaborators(
    client_id: uuid.UUID, body: CollaboratorsIn, caller: ConfigurerDep, services: ServicesDep
) -> CollaboratorsChanged:
    """Set exactly who of the firm works on this client (template users may be removed); the
    added ones are sent the "client ready" e-mail, each in their own language."""
    changed = await app_collaborators.set_collaborators(
        services.pool,
        services.temporal,
        partner_id=caller.partner.id,
        client_id=client_id,
        role=caller.user.role,
        user_ids=body.user_ids,
        task_queue=services.settings.task_queue,
    )
    return CollaboratorsChanged(
        user_ids=changed.user_ids, added=changed.added, removed=changed.removed
    )


class NotificationsSwitched(BaseModel):
    client_id: uuid.UUID
    enabled: bool = Field(description="The switch as now asked")
    applied: bool = Field(
        description="The client's notifications are already so; false while its setup runs "
        "(a client stays muted until setup completes, then the switch applies)"
    )
    through: Literal["onboarding", "client"] = Field(
        description="onboarding: its workflow runs and owns the rule (never invite while muted; "
        "switched on, a waiting invitation goes on according to its mode); client: the "
        "onboarding is over, only the client changes"
    )
    onboarding_status: str
    invitation_state: str


@router.post(
    "/{client_id}/notifications",
    response_model=NotificationsSwitched,
    responses=problem_responses(403, 404, 409, 422, 503),
)
async def switch_notifications(
    client_id: uuid.UUID,
    body: SetNotificationsInput,
    caller: ConfigurerDep,
    pool: PoolDep,
    temporal: TemporalDep,
) -> NotificationsSwitched:
    """Switch the client's notifications on or off, at any time."""
    switched = await app_clients.switch_notifications(
        pool,
        temporal,
        partner_id=caller.partner.id,
        client_id=client_id,
        role=caller.user.role,
        enabled=body.enabled,
    )
    return NotificationsSwitched(**dataclasses.asdict(switched))


@router.get(
    "/{client_id}/checklist", response_model=ChecklistProgress, responses=problem_responses(404)
)
async def read_client_checklist(
    client_id: uuid.UUID, caller: AnyRoleDep, pool: PoolDep
) -> ChecklistProgress:
    """The client's checklist: its items, the answers so far, what required is still missing."""
    found = await app_checklists.progress(pool, partner_id=caller.partner.id, client_id=client_id)
    if found is None:
        raise ProblemError(404, "not-found", "Not found", f"No checklist for client {client_id}")
    return found
