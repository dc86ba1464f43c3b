"""Onboarding requests, workflow inputs, updates and the status every step reports."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from domain.company import CompanyRecord
from domain.exact import ExactBool, ExactDate, ExactDateTime
from domain.fiscal_calendar import FiscalYear
from domain.identifiers import BeEnterpriseNumber, BeNationalNumber, EuVatNumber, Siret
from domain.setup import EffectiveSetup, InvitationMode, SetupOverrides
from domain.text import Text

# Stable namespace for ids derived from (partner, idempotency key): a retried POST with the same
# key lands on the same onboarding id, hence the same workflow id.
_ONBOARDING_NS = uuid.UUID("6f1d3c1e-8f0e-4c7a-9a51-3c9a0f2b7d10")
_CLIENT_NS = uuid.UUID("0b9e2d57-2f4c-4f3e-8b8e-5d7e2a1c9f44")
_USER_NS = uuid.UUID("4a7f3b2e-1c55-4e0b-9f8d-2b6c7e9a1d33")


FISCAL_YEAR_EARLIEST = 1990


class Language(StrEnum):
    fr = "fr"
    nl = "nl"
    en = "en"
    de = "de"


class OnboardingStatus(StrEnum):
    """Coarse status, mirrored in the OnboardingStatus search attribute and the database."""

    SETTING_UP = "SETTING_UP"
    AWAITING_COMPANY_DETAILS = "AWAITING_COMPANY_DETAILS"
    # A step's temporary failures (PostgreSQL or SMTP down) outlasted its retry policy: a person
    # fixes the cause and resumes it. `waiting_for` says which step and why.
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    READY = "READY"  # setup complete; invitation and integration retries may still be pending
    # Setup is complete but the client's notifications are off: the invitation waits (never
    # sent while muted) until someone switches them on (POST /v1/clients/{id}/notifications).
    WAITING_FOR_UNMUTE = "WAITING_FOR_UNMUTE"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


# Statuses that free a bulk import's window slot: setup is over, or a person must act. The first
# one an imported onboarding reaches is recorded on its import row with the status itself.
IMPORT_SETTLED = frozenset(
    {
        OnboardingStatus.READY,
        OnboardingStatus.AWAITING_COMPANY_DETAILS,
        OnboardingStatus.NEEDS_ATTENTION,
        OnboardingStatus.FAILED,
    }
)


class StepState(StrEnum):
    pending = "pending"
    running = "running"
    waiting = "waiting"  # for a person: company details, an integration retry
    completed = "completed"
    failed = "failed"
    skipped = "skipped"


class Step(StrEnum):
    resolve_setup = "resolve_setup"
    company_lookup = "company_lookup"
    create_client = "create_client"
    folders = "folders"
    collaborators_and_subscription = "collaborators_and_subscription"
    integrations = "integrations"
    complete_setup = "complete_setup"
    invitation = "invitation"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ClientIn(StrictModel):
    first_name: Text = Field(min_length=1, max_length=100)
    last_name: Text = Field(min_length=1, max_length=100)
    email: EmailStr
    language: Language
    company_name: Text | None = Field(default=None, max_length=200)
    address: Text | None = Field(default=None, max_length=500)
    siret: Siret | None = Field(default=None, description="Looked up in the company registry")
    enterprise_number: BeEnterpriseNumber | None = Field(
        default=None,
        description="Belgian enterprise number (KBO/BCE), stored as 10 digits; looked up in the "
        "KBO Open Data when no SIRET is given",
        examples=["BE0202.239.951"],
    )
    vat_number: EuVatNumber | None = Field(
        default=None,
        description="EU VAT number, checked in VIES once the company is found (a Belgian "
        "company's is BE + its enterprise number when none is given)",
    )
    case_manager: Text | None = Field(
        default=None, max_length=100, description="The tag naming the case manager, to filter on"
    )
    tags: list[Annotated[Text, Field(max_length=50)]] = Field(default_factory=list, max_length=20)
    national_number: BeNationalNumber | None = None
    partner_national_number: BeNationalNumber | None = None

    @property
    def display_name(self) -> str:
        return self.company_name or f"{self.first_name} {self.last_name}"


class FiscalYearIn(StrictModel):
    start: ExactDate
    end: ExactDate | None = Field(default=None, description="Default: start + 12 months - 1 day")

    def resolve(self) -> FiscalYear:
        return FiscalYear.from_start(self.start, self.end)

    @model_validator(mode="after")
    def _valid(self) -> Self:
        self.resolve()  # 1 to 24 months, end after start: raises a ValueError naming the rule
        # A window nobody means to leave: year 1 or 9999 is a typo, and would still reach READY
        # with hundreds of month folders. The clock is read here, at the edge: this model is
        # never part of a workflow input (OnboardingInput carries the resolved FiscalYear).
        latest = date.today().year + 1  # a calendar year, not an instant
        if not FISCAL_YEAR_EARLIEST <= self.start.year <= latest:
            raise ValueError(
                f"the fiscal year must start between {FISCAL_YEAR_EARLIEST} and {latest}"
            )
        return self


class DirectorIn(StrictModel):
    email: EmailStr
    first_name: Text = Field(min_length=1, max_length=100)
    last_name: Text = Field(min_length=1, max_length=100)
    themes: list[Annotated[Text, Field(max_length=100)]] = Field(
        default_factory=list, max_length=50
    )


class NotificationsIn(StrictModel):
    keep_muted: ExactBool | None = Field(
        default=None,
        description="Keep the client's notifications off after setup (they are off during "
        "setup); default: the firm's setting (GET /v1/notification-defaults)",
    )


class InvitationIn(StrictModel):
    mode: InvitationMode | None = Field(default=None, description="Default: the template's")
    scheduled_at: ExactDateTime | None = Field(
        default=None, description="For mode=scheduled: when, with a timezone; stored in UTC"
    )

    @model_validator(mode="after")
    def _scheduled_needs_time(self) -> Self:
        if self.mode == InvitationMode.scheduled and self.scheduled_at is None:
            raise ValueError("scheduled_at is required when mode is scheduled")
        if self.mode not in (None, InvitationMode.scheduled) and self.scheduled_at is not None:
            raise ValueError("scheduled_at only goes with mode scheduled")
        return self


class OnboardingCreate(StrictModel):
    """Body of POST /v1/onboardings."""

    client: ClientIn
    template_id: uuid.UUID | None = Field(
        default=None, description="Configuration template; the partner's default if omitted"
    )
    fiscal_year: FiscalYearIn | None = Field(
        default=None, description="Default: the current calendar year"
    )
    director: DirectorIn | None = Field(
        default=None, description="Who gets the invitation; default: the client contact"
    )
    overrides: SetupOverrides = Field(
        default_factory=SetupOverrides,
        description="Subscription, payer, billing period, collaborators, folder tree, integrations",
    )
    notifications: NotificationsIn = Field(default_factory=NotificationsIn)
    invitation: InvitationIn = Field(default_factory=InvitationIn)
    pricing_acknowledged: ExactBool = Field(
        default=False,
        description="Required true when overrides.payer is `partner` (the firm pays): the firm "
        "confirms the pricing policy at the prices shown, recorded with who and when; "
        "otherwise 409 naming this field",
    )

    def fingerprint(self) -> str:
        """Hash of the canonical request: the same Idempotency-Key with another body is a 409.

        Fields added later are left out while unset, so a request retried across the deploy
        that added them hashes as it did before (its row holds the older hash)."""
        unset_later: dict[str, Any] = {}
        body = self
        if self.notifications.keep_muted is None:
            # Omitting keep_muted meant false before the firm's setting existed: a request
            # retried across that deploy still hashes as it did.
            body = self.model_copy(update={"notifications": NotificationsIn(keep_muted=False)})
        if self.overrides.checklist_id is None:
            unset_later["overrides"] = {"checklist_id": True}
        later = {
            name: True
            for name in ("enterprise_number", "vat_number")
            if getattr(self.client, name) is None
        }
        if later:
            unset_later["client"] = later
        if not self.pricing_acknowledged:
            unset_later["pricing_acknowledged"] = True
        return hashlib.sha256(body.model_dump_json(exclude=unset_later).encode()).hexdigest()


def onboarding_id_for(partner_id: uuid.UUID, idempotency_key: str) -> uuid.UUID:
    return uuid.uuid5(_ONBOARDING_NS, f"{partner_id}:{idempotency_key}")


def client_id_for(onboarding_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_CLIENT_NS, str(onboarding_id))


def director_id_for(client_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_USER_NS, f"{client_id}:director")


def onboarding_summary(
    onboarding_id: uuid.UUID, partner_id: uuid.UUID, *, import_id: uuid.UUID | None = None
) -> str:
    """The static summary the Temporal UI lists for an onboarding's run: ids, no personal data
    (the payload codec encrypts user metadata too, but the summary does not need a name)."""
    origin = f" · import {import_id}" if import_id else ""
    return f"Onboarding {onboarding_id} · partner {partner_id}{origin}"


def workflow_id_for(onboarding_id: uuid.UUID) -> str:
    # Only opaque ids: workflow ids are visible to anyone with access to the namespace.
    return f"onboarding-{onboarding_id}"


class CompanyDetails(StrictModel):
    """Company data entered by hand when the registry could not provide it."""

    name: Text = Field(min_length=1, max_length=200)
    address: Text | None = Field(default=None, max_length=500)
    postal_code: Text | None = Field(default=None, max_length=20)
    city: Text | None = Field(default=None, max_length=100)
    siret: Siret | None = Field(
        default=None, description="A corrected SIRET, or none to go on without one"
    )
    enterprise_number: BeEnterpriseNumber | None = Field(
        default=None,
        description="A corrected Belgian enterprise number, or none to go on without one",
    )
    activity_code: Text | None = Field(default=None, max_length=10)
    legal_form: Text | None = Field(default=None, max_length=10)

    def as_company(self) -> CompanyRecord | None:
        if self.siret is None:
            return None
        return CompanyRecord(
            siret=self.siret,
            siren=self.siret[:9],
            name=self.name,
            address=self.address,
            postal_code=self.postal_code,
            city=self.city,
            activity_code=self.activity_code,
            legal_form=self.legal_form,
            is_head_office=False,
            active=True,
            source="manual",
        )


class Timeouts(BaseModel):
    """Deadlines fixed when the onboarding starts (settings can change; a run must not)."""

    company_lookup: timedelta = timedelta(minutes=2)
    company_details: timedelta = timedelta(days=7)
    integration_retry_window: timedelta = timedelta(days=7)
    invitation_reminders: list[timedelta] = Field(
        default_factory=lambda: [timedelta(days=3), timedelta(days=7)]
    )
    invitation_expiry: timedelta = timedelta(days=14)
    # When the onboarding's creator is reminded of what waits for them (company details, failed
    # integrations); None: half-way to the deadline. A point not before the deadline: no reminder.
    details_reminder_after: timedelta | None = None
    integration_reminder_after: timedelta | None = None
    # The longest a run may wait before it continues as new with its state (patch bounded-waits):
    # no run is older than this, so every patch retires on a known date. None: unbounded (runs
    # started before the setting existed); the API and imports set it from the settings.
    max_run_age: timedelta | None = None


class OnboardingInput(BaseModel):
    """Input of OnboardingWorkflow."""

    onboarding_id: uuid.UUID
    partner_id: uuid.UUID
    partner_name: str
    client: ClientIn
    template_id: uuid.UUID | None = None
    fiscal_year: FiscalYear
    director: DirectorIn
    # Secret integration settings are masked here: workflow inputs are visible in Temporal's
    # history and UI. The real values stay in the database (onboardings.secrets).
    overrides: SetupOverrides = Field(default_factory=SetupOverrides)
    keep_muted: bool = False
    invitation_mode: InvitationMode | None = None
    invitation_scheduled_at: datetime | None = None
    registry_task_queue: str = "onboarding-registry"
    timeouts: Timeouts = Field(default_factory=Timeouts)
    # Set when a bulk import started this onboarding: it reports back when settled.
    import_id: uuid.UUID | None = None
    import_row: int | None = None
    # The import reads settled rows from PostgreSQL (the status projection marks the row), so
    # this onboarding sends no signal: a stream of signals kept the import from continuing as
    # new. False in inputs from imports started before that change: they wait for the signal.
    import_reads_settled: bool = False
    # Other rows of the import belong to the same SIREN: one registry request serves them all.
    import_siren_shared: bool = False
    # Set when an earlier run of this onboarding continued as new: where it stood.
    carried: OnboardingCarried | None = None


class InvitationState(StrEnum):
    pending = "pending"  # setup not complete yet
    scheduled = "scheduled"
    waiting_manual = "waiting_manual"
    cancelled = "cancelled"
    muted = "muted"  # the client's notifications are kept off: nothing may be sent
    sent = "sent"
    accepted = "accepted"
    expired = "expired"
    bounced = "bounced"


class InvitationView(BaseModel):
    mode: InvitationMode | None = None
    state: InvitationState = InvitationState.pending
    scheduled_at: datetime | None = None
    sequence: int = Field(default=0, description="How many invitations were sent (resends count)")
    sent_at: datetime | None = None
    expires_at: datetime | None = None
    reminders_sent: int = 0
    accepted_at: datetime | None = None
    last_error: str | None = None


class RescheduleInvitationInput(StrictModel):
    scheduled_at: ExactDateTime


class AcceptInvitationInput(BaseModel):
    sequence: int


class InvitationChanged(BaseModel):
    state: InvitationState
    scheduled_at: datetime | None = None


class StepStatus(BaseModel):
    name: Step
    state: StepState = StepState.pending
    attempts: int = 0
    last_error: str | None = None
    detail: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class IntegrationStatus(BaseModel):
    code: str
    state: StepState
    attempts: int = 0
    last_error: str | None = None


class OnboardingView(BaseModel):
    """What the `status` query returns, and GET /v1/onboardings/{id}."""

    onboarding_id: uuid.UUID
    status: OnboardingStatus
    waiting_for: str | None = Field(
        default=None, description="What a person must do for the onboarding to go on"
    )
    client_id: uuid.UUID | None = None
    company: CompanyRecord | None = None
    setup: EffectiveSetup | None = None
    folders_created: int | None = None
    integrations: list[IntegrationStatus] = Field(default_factory=list)
    invitation: InvitationView = Field(default_factory=InvitationView)
    steps: list[StepStatus]
    failure: str | None = None
    notifications_muted: bool = Field(
        default=False, description="The client's notifications are off: nothing is sent to it"
    )
    notices_not_sent: list[str] = Field(
        default_factory=list,
        description="E-mails that outlasted their retries and were given up (reminders, notices)",
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What went on but deserves a look (a stale company register extract)",
    )


class InvitationStage(StrEnum):
    """Where the invitation's part of an onboarding stands, for a run that continues as new."""

    before_send = "before_send"  # muted, manual, scheduled or cancelled: not sent yet
    send = "send"  # to be sent (again)
    acceptance = "acceptance"  # sent, waiting for the director
    resend = "resend"  # expired or bounced, waiting for resend_invitation


class OnboardingCarried(BaseModel):
    """What a run hands to the next when it continues as new after waiting its maximum age:
    the view and the workflow's own state, so the next run goes on from the same wait. After
    setup completed (patch bounded-waits: an unmute, a send, the director), or while a step
    waits in NEEDS_ATTENTION for a person to resume it, during setup or at the invitation's
    send (patch bounded-attention). Fields added later have defaults: the carried inputs of
    runs already open must still parse."""

    view: OnboardingView
    stage: InvitationStage
    muted: bool
    muted_written: bool | None
    projected_state: InvitationState | None
    projected_scheduled_at: datetime | None
    send_now: bool
    cancelled: bool
    resend: bool
    schedule_version: int
    client_name: str | None
    runs: int = Field(default=1, description="Runs of this onboarding so far (continue-as-new)")
    parked: Step | None = Field(
        default=None,
        description="The step waiting in NEEDS_ATTENTION for a resume when the run continued "
        "as new: the next run waits there again, and a resume runs it",
    )
    manual: CompanyDetails | None = Field(
        default=None, description="Company details given by hand, for a client not created yet"
    )
    setup_muted: bool | None = Field(
        default=None,
        description="complete_setup's answer (notifications muted) when it ran and setup had "
        "not finished (its checklist parked): not run again",
    )
    told_import: bool = Field(
        default=False, description="The bulk import of the signal era was told this row settled"
    )
    parked_status: OnboardingStatus | None = Field(
        default=None,
        description="The onboarding's status before `parked` parked, set again on its resume "
        "(READY for a checklist parked after complete_setup); None: carried by an older run",
    )
    parked_state: StepState | None = Field(
        default=None,
        description="The parked step's state before it parked, given back on its resume "
        "(completed for complete_setup when its checklist parked); None: running",
    )


class SetNotificationsInput(StrictModel):
    enabled: ExactBool = Field(description="Switch the client's notifications on (true) or off")


class NotificationsChanged(BaseModel):
    enabled: bool = Field(description="The switch as now asked")
    applied: bool = Field(
        description="The client's notifications are already so; false while setup runs (the "
        "client stays muted until setup completes, then the switch applies)"
    )
    status: OnboardingStatus
    invitation: InvitationState


class ResumeResult(BaseModel):
    step: Step = Field(description="The step that is tried again")
    status: OnboardingStatus


class ProvideCompanyDetailsResult(BaseModel):
    accepted: bool
    status: OnboardingStatus


class RetryIntegrationInput(BaseModel):
    code: str


class RetryIntegrationResult(BaseModel):
    code: str
    state: StepState


def onboarding_input_for(
    body: OnboardingCreate,
    *,
    onboarding_id: uuid.UUID,
    partner_id: uuid.UUID,
    partner_name: str,
    today: date,
    overrides: SetupOverrides,
    registry_task_queue: str,
    timeouts: Timeouts,
    keep_muted: bool,
) -> OnboardingInput:
    """The workflow input for a request, with every default fixed now (workflows must not read
    the clock): the fiscal year (the current calendar year), the director (the client contact),
    and `keep_muted` as app/notifications.keeps_muted resolved it (the request's, else the
    firm's setting)."""
    fiscal_year = (
        body.fiscal_year.resolve()
        if body.fiscal_year
        else FiscalYear(start=date(today.year, 1, 1), end=date(today.year, 12, 31))
    )
    c = body.client
    director = body.director or DirectorIn(
        email=c.email, first_name=c.first_name, last_name=c.last_name
    )
    scheduled = body.invitation.scheduled_at
    return OnboardingInput(
        onboarding_id=onboarding_id,
        partner_id=partner_id,
        partner_name=partner_name,
        client=c,
        template_id=body.template_id,
        fiscal_year=fiscal_year,
        director=director,
        overrides=overrides,
        keep_muted=keep_muted,
        invitation_mode=body.invitation.mode,
        invitation_scheduled_at=scheduled.astimezone(UTC) if scheduled else None,
        registry_task_queue=registry_task_queue,
        timeouts=timeouts,
    )


OnboardingInput.model_rebuild()
