"""What the workflow tests share: fakes, inputs, workers, runs and status waits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from temporalio import activity, workflow
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowHistory,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.checklists import AssignChecklistInput, AssignChecklistResult
from activities.client_setup import AssignInput, AssignResult
from activities.clients import (
    ClientNotificationsInput,
    CompleteSetupInput,
    CompleteSetupResult,
    CreateClientInput,
    CreateClientResult,
    RecordInvitationInput,
    RecordStatusInput,
)
from activities.company_checks import (
    CheckSiretInput,
    CheckSiretResult,
    LookupEnterpriseInput,
    LookupEnterpriseResult,
)
from activities.email import SendEmailResult, SendOutcome
from activities.escalations import EscalateInput
from activities.fiscal_years import FiscalYearActivities
from activities.folders import (
    CreateFoldersInput,
    CreateFoldersResult,
    FolderActivities,
)
from activities.imports import (
    PrepareBatchInput,
    PrepareBatchResult,
    PreparedRow,
    ReleaseRowsInput,
    SettledRowsInput,
    start_onboardings,
)
from activities.integrations import (
    ConnectIntegrationInput,
    ConnectIntegrationResult,
    RecordIntegrationFailureInput,
)
from activities.invitations import (
    InvitationPurpose,
    NotifyCollaboratorsInput,
    NotifyCollaboratorsResult,
    SendInvitationInput,
)
from activities.registry import LookupCompanyInput, LookupCompanyResult
from activities.setup import ResolveSetupInput, ResolveSetupResult
from activities.vies import CheckVatInput, CheckVatResult
from domain.company import CompanyRecord
from domain.fiscal_calendar import FiscalYear
from domain.imports_progress import RowSettled
from domain.onboarding import (
    AcceptInvitationInput,
    ClientIn,
    DirectorIn,
    Language,
    OnboardingInput,
    OnboardingStatus,
    OnboardingView,
    Timeouts,
    client_id_for,
)
from domain.setup import (
    BillingPeriod,
    EffectiveIntegration,
    EffectiveSetup,
    InvitationMode,
    Payer,
)
from store import catalogs, clients, onboardings
from store.pool import Pool
from tests.eventually import eventually
from tests.factories import Tenant
from worker.interceptors import DataErrorsAreFinal
from worker.main import WORKFLOW_RUNNER
from workflows.bulk_import import BulkImportWorkflow
from workflows.fiscal_years import FiscalYearWorkflow
from workflows.onboarding import OnboardingWorkflow

ROWS = 300


SETUP_TIME = timedelta(seconds=2)  # how long a "slow" fake onboarding takes to settle


SETUP_TIMES = {"slow": SETUP_TIME, "steady": timedelta(milliseconds=300)}


MARKS: dict[tuple[uuid.UUID, int], str] = {}


@activity.defn(name="record_status")
async def record_status(data: tuple[uuid.UUID, int, str]) -> None:
    import_id, row, status = data
    MARKS.setdefault((import_id, row), status)


@workflow.defn(name="OnboardingWorkflow")
class FakeOnboarding:
    """Sets up for a while, then records its status as the real one does (the projection marks
    the import row)."""

    @workflow.run
    async def run(self, data: OnboardingInput) -> None:
        await workflow.sleep(SETUP_TIMES.get(data.partner_name, timedelta(0)))
        assert data.import_row is not None and data.import_id
        status = "FAILED" if data.import_row % 97 == 0 else "READY"
        assert data.import_reads_settled, "imports of the signal era are retired"
        await workflow.execute_activity(
            record_status,
            (data.import_id, data.import_row, status),
            start_to_close_timeout=timedelta(seconds=10),
        )


@dataclass
class Reads:
    """What the fake settled_rows answered, by import run."""

    by_run: dict[str, list[int]] = field(default_factory=dict)


def make_settled_rows(reads: Reads) -> Callable[[SettledRowsInput], Awaitable[list[RowSettled]]]:
    @activity.defn(name="settled_rows")
    async def settled_rows(data: SettledRowsInput) -> list[RowSettled]:
        found = [
            RowSettled(row=row, status=MARKS[(data.import_id, row)])
            for row in data.rows
            if (data.import_id, row) in MARKS
        ]
        reads.by_run.setdefault(activity.info().workflow_run_id or "", []).extend(
            r.row for r in found
        )
        return found

    return settled_rows


def _onboarding(
    import_id: uuid.UUID, partner_id: uuid.UUID, row: int, partner_name: str
) -> OnboardingInput:
    return OnboardingInput(
        # One id per (import, row), as in prepare_batch: a row prepared twice is the same
        # onboarding, and no two tests share a child (one left running by a cancelled import
        # would answer "already started" to the next).
        onboarding_id=uuid.uuid5(uuid.NAMESPACE_OID, f"{import_id}:row-{row}"),
        # The import's firm, as prepare_batch gives it: the start lists the run under it.
        partner_id=partner_id,
        partner_name=partner_name,
        client=ClientIn(
            first_name="A",
            last_name=f"Row {row}",
            email=f"r{row}@example.com",
            language=Language.fr,
        ),
        fiscal_year=FiscalYear.from_start(date(2026, 1, 1)),
        director=DirectorIn(email=f"r{row}@example.com", first_name="A", last_name="B"),
    )


def make_prepare(partner_name: str) -> Callable[[PrepareBatchInput], Awaitable[PrepareBatchResult]]:
    """A fake prepare_batch; onboardings of a "slow" partner take SETUP_TIME to settle."""

    @activity.defn(name="prepare_batch")
    async def prepare_batch(data: PrepareBatchInput) -> PrepareBatchResult:
        rows = [r for r in range(data.after_row + 1, data.after_row + data.limit + 1) if r <= ROWS]
        prepared = [
            # Every 50th row is already a client of the partner: reported, not onboarded.
            PreparedRow(row=r, onboarding=None, skipped="already a client")
            if r % 50 == 0
            else PreparedRow(
                row=r, onboarding=_onboarding(data.import_id, data.partner_id, r, partner_name)
            )
            for r in rows
        ]
        return PrepareBatchResult(rows=prepared, last_row=rows[-1] if rows else None)

    return prepare_batch


def make_release(released: list[int]) -> Callable[[ReleaseRowsInput], Awaitable[int]]:
    """A fake release_rows that records the rows given back."""

    @activity.defn(name="release_rows")
    async def release_rows(data: ReleaseRowsInput) -> int:
        released.extend(data.rows)
        return len(data.rows)

    return release_rows


def bulk_worker(
    client: Client,
    queue: str,
    partner_name: str,
    *,
    reads: Reads | None = None,
    released: list[int] | None = None,
    onboarding: type = FakeOnboarding,
) -> Worker:
    """The import and its stand-ins on `queue`: fake prepare, release and settled-rows
    activities, the real `start_onboardings`, and `onboarding` under the real workflow's name."""
    return Worker(
        client,
        task_queue=queue,
        workflows=[BulkImportWorkflow, onboarding],
        activities=[
            make_prepare(partner_name),
            make_release([] if released is None else released),
            record_status,
            start_onboardings,
            make_settled_rows(Reads() if reads is None else reads),
        ],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


async def _runs(
    client: Client, workflow_id: str, first_run: str
) -> list[tuple[str, WorkflowHistory]]:
    """Every run of the import (its id and history), following continue-as-new."""
    runs: list[tuple[str, WorkflowHistory]] = []
    run_id: str | None = first_run
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.append((run_id, history))
        attributes = history.events[-1].workflow_execution_continued_as_new_event_attributes
        run_id = attributes.new_execution_run_id or None
    return runs


GED: list[dict[str, Any]] = [
    {
        "name": "Comptabilité",
        "children": [{"name": "Achats", "per_fiscal_year": True}, {"name": "Ventes"}],
    },
    {"name": "Juridique"},
]


FIRST = FiscalYear(start=date(2025, 1, 1), end=date(2025, 12, 31))


FRENCH_2026 = [
    "2026-01 Janvier",
    "2026-02 Février",
    "2026-03 Mars",
    "2026-04 Avril",
    "2026-05 Mai",
    "2026-06 Juin",
    "2026-07 Juillet",
    "2026-08 Août",
    "2026-09 Septembre",
    "2026-10 Octobre",
    "2026-11 Novembre",
    "2026-12 Décembre",
]


async def onboarded_client(
    pool: Pool,
    tenant: Tenant,
    *,
    tree: list[dict[str, Any]] | None = GED,
    first: FiscalYear = FIRST,
    ready: bool = True,
    language: str = "fr",
) -> uuid.UUID:
    """A client as its onboarding leaves it: a setup naming a folder tree, its first fiscal year
    and folders made by the real folder activity, then (`ready`) its setup complete."""
    code = f"ged-{uuid.uuid4().hex[:6]}" if tree is not None else None
    if code is not None:
        body = {"code": code, "name": "GED", "folders": tree}
        assert await catalogs.create(
            pool, "folder_trees", partner_id=tenant.partner.id, code=code, body=body
        )
    onboarding_id = uuid.uuid4()
    await onboardings.claim(
        pool,
        onboarding_id=onboarding_id,
        partner_id=tenant.partner.id,
        idempotency_key=str(onboarding_id),
        request_hash="h",
        workflow_id=f"onboarding-{onboarding_id}",
        status="READY" if ready else "SETTING_UP",
    )
    setup = EffectiveSetup(
        template_id=None,
        template_version=None,
        plan=None,
        add_ons=[],
        payer=Payer.client,
        billing_period=BillingPeriod.monthly,
        user_ids=[],
        integrations=[],
        folder_tree=code,
        invitation_mode=InvitationMode.manual,
    )
    row, _ = await clients.create(
        pool,
        client_id=client_id_for(onboarding_id),
        partner_id=tenant.partner.id,
        onboarding_id=onboarding_id,
        name="Exercices SARL",
        email="exercices@example.com",
        language=language,
        setup=setup.model_dump(mode="json"),
    )
    await ActivityEnvironment().run(
        FolderActivities(pool).create_folders,
        CreateFoldersInput(
            client_id=row.id,
            partner_id=tenant.partner.id,
            folder_tree=code,
            fiscal_year_start=first.start,
            fiscal_year_end=first.end,
            language=language,
        ),
    )
    if ready:
        await clients.complete_setup(pool, client_id=row.id, keep_muted=False)
    return row.id


@asynccontextmanager
async def fiscal_year_worker(
    client: Client, pool: Pool, queue: str, *, folder_pool: Any = None
) -> AsyncIterator[Worker]:
    """A main-queue worker for this workflow with the real activities; `folder_pool` stands
    for the folder activity's database (a faulty one)."""
    async with Worker(
        client,
        task_queue=queue,
        workflows=[FiscalYearWorkflow],
        activities=[
            FolderActivities(cast(Pool, folder_pool or pool)).create_folders,
            FiscalYearActivities(pool).record_fiscal_year_folders,
        ],
        workflow_runner=WORKFLOW_RUNNER,
        interceptors=[DataErrorsAreFinal()],
    ) as worker:
        yield worker


DANONE = CompanyRecord(
    siret="55203253400646",
    siren="552032534",
    name="DANONE",
    address="17 BOULEVARD HAUSSMANN 75009 PARIS",
    postal_code="75009",
    city="PARIS",
    activity_code="70.10Z",
    legal_form="5599",
    is_head_office=True,
    active=True,
    source="recherche-entreprises",
)


PROXIMUS = CompanyRecord(
    enterprise_number="0202239951",
    name="Proximus",
    address="Boulevard du Roi Albert II 27, 1030 Schaerbeek",
    postal_code="1030",
    city="Schaerbeek",
    legal_form="116",
    is_head_office=True,
    active=True,
    source="kbo-open-data",
    extract_date=date(2026, 11, 27),
)


class Fakes:
    """Activity fakes whose behaviour each test sets; they record what the workflow asked."""

    def __init__(self) -> None:
        self.registry: Callable[[int], LookupCompanyResult] = lambda attempt: LookupCompanyResult(
            company=DANONE, attempt=attempt
        )
        self.siret_available = True
        # The KBO/BCE lookup of a Belgian client (an enterprise number, no SIRET).
        self.kbo: Callable[[int], LookupEnterpriseResult] = lambda attempt: LookupEnterpriseResult(
            available=True,
            company=PROXIMUS,
            extract_date=date(2026, 11, 27),
            extract_age_days=7,
            attempt=attempt,
        )
        self.kbo_calls: list[LookupEnterpriseInput] = []
        # VIES: valid, or None for "unavailable" on every attempt.
        self.vies_valid: bool | None = True
        self.vies_calls = 0
        self.vies_asked: list[CheckVatInput] = []
        self.duplicate_on_create = 0
        self.integration_failures: dict[str, int] = {}
        self.integrations: list[EffectiveIntegration] = []
        self.email_outcome = SendOutcome.sent
        self.auto_accept = True
        self.collaborator_notices: list[NotifyCollaboratorsInput] = []
        self.statuses: list[str] = []
        self.created: list[CreateClientInput] = []
        self.emails: list[SendInvitationInput] = []
        self.sent_at: list[tuple[str, int, int, datetime]] = []
        self.outcomes: list[SendOutcome] = []
        self.registry_calls = 0
        self.connect_calls: dict[str, int] = {}
        self.recorded_failures: list[str] = []
        self.setup_muted: list[bool] = []  # keep_muted as complete_setup received it
        self.switched: list[bool] = []  # the client row's notifications_muted, as written
        # The client row's invitation state and planned time, as projected for the list.
        self.projected: list[tuple[str | None, datetime | None]] = []
        # Escalations to the onboarding's creator: (input, when the server scheduled it).
        self.escalations: list[tuple[EscalateInput, datetime]] = []
        self.checklist_id: uuid.UUID | None = None
        self.checklist_gone = False  # deleted from the catalog after the setup resolved
        self.assigned: list[AssignChecklistInput] = []
        self.user_ids: list[uuid.UUID] = []  # the setup's collaborators

    @activity.defn(name="resolve_setup")
    async def resolve_setup(self, data: ResolveSetupInput) -> ResolveSetupResult:
        setup = EffectiveSetup(
            template_id=uuid.uuid4(),
            template_version=1,
            plan="essentials",
            add_ons=[],
            payer=Payer.client,
            billing_period=BillingPeriod.monthly,
            user_ids=self.user_ids,
            integrations=self.integrations,
            folder_tree="ged",
            invitation_mode=InvitationMode.immediate,
            checklist_id=self.checklist_id,
        )
        return ResolveSetupResult(setup=setup, attempt=activity.info().attempt)

    @activity.defn(name="check_siret_available")
    async def check_siret_available(self, data: CheckSiretInput) -> CheckSiretResult:
        return CheckSiretResult(available=self.siret_available, attempt=activity.info().attempt)

    @activity.defn(name="lookup_enterprise")
    async def lookup_enterprise(self, data: LookupEnterpriseInput) -> LookupEnterpriseResult:
        self.kbo_calls.append(data)
        return self.kbo(activity.info().attempt)

    @activity.defn(name="check_vat")
    async def check_vat(self, data: CheckVatInput) -> CheckVatResult:
        self.vies_calls += 1
        self.vies_asked.append(data)
        if self.vies_valid is None:
            raise ApplicationError("VIES unavailable: MS_UNAVAILABLE", type="ViesUnavailable")
        return CheckVatResult(
            valid=self.vies_valid,
            name="Proximus" if self.vies_valid else None,
            checked_at=datetime(2026, 12, 4, tzinfo=UTC),
            attempt=activity.info().attempt,
        )

    @activity.defn(name="lookup_company")
    async def lookup_company(self, data: LookupCompanyInput) -> LookupCompanyResult:
        self.registry_calls += 1
        return self.registry(activity.info().attempt)

    @activity.defn(name="create_client")
    async def create_client(self, data: CreateClientInput) -> CreateClientResult:
        if self.duplicate_on_create > 0:
            self.duplicate_on_create -= 1
            raise ApplicationError("SIRET taken", type="DuplicateSiret", non_retryable=True)
        self.created.append(data)
        return CreateClientResult(
            client_id=uuid.uuid5(uuid.NAMESPACE_OID, str(data.onboarding_id)),
            created=True,
            attempt=activity.info().attempt,
        )

    @activity.defn(name="create_folders")
    async def create_folders(self, data: CreateFoldersInput) -> CreateFoldersResult:
        return CreateFoldersResult(
            folders_planned=14, folders_created=14, months=12, attempt=activity.info().attempt
        )

    @activity.defn(name="assign_collaborators_and_subscription")
    async def assign(self, data: AssignInput) -> AssignResult:
        return AssignResult(
            collaborators_added=0, subscription_created=True, attempt=activity.info().attempt
        )

    @activity.defn(name="connect_integration")
    async def connect_integration(self, data: ConnectIntegrationInput) -> ConnectIntegrationResult:
        code = data.integration.code
        self.connect_calls[code] = self.connect_calls.get(code, 0) + 1
        if self.integration_failures.get(code, 0) > 0:
            self.integration_failures[code] -= 1
            raise ApplicationError("app answered 503", type="IntegrationUnavailable")
        return ConnectIntegrationResult(
            code=code, state="connected", external_ref="c-1", attempt=activity.info().attempt
        )

    @activity.defn(name="record_integration_failure")
    async def record_integration_failure(self, data: RecordIntegrationFailureInput) -> None:
        self.recorded_failures.append(data.code)

    @activity.defn(name="complete_setup")
    async def complete_setup(self, data: CompleteSetupInput) -> CompleteSetupResult:
        self.setup_muted.append(data.keep_muted)
        if data.status is not None:
            self.statuses.append(data.status)  # READY, folded into the step that makes it so
        return CompleteSetupResult(
            notifications_muted=data.keep_muted, attempt=activity.info().attempt
        )

    @activity.defn(name="notify_collaborators")
    async def notify_collaborators(
        self, data: NotifyCollaboratorsInput
    ) -> NotifyCollaboratorsResult:
        self.collaborator_notices.append(data)
        return NotifyCollaboratorsResult(
            notified=len(data.user_ids), attempt=activity.info().attempt
        )

    @activity.defn(name="set_notifications")
    async def set_notifications(self, data: ClientNotificationsInput) -> None:
        self.switched.append(data.muted)

    @activity.defn(name="record_invitation")
    async def record_invitation(self, data: RecordInvitationInput) -> None:
        self.projected.append((data.state, data.scheduled_at))

    @activity.defn(name="assign_checklist")
    async def assign_checklist(self, data: AssignChecklistInput) -> AssignChecklistResult:
        self.assigned.append(data)
        # Before the invitation, which lists the checklist's items.
        assert not self.emails, "assigned after an invitation went"
        if self.checklist_gone:
            raise ApplicationError(
                f"checklist {data.checklist_id} is not in the partner's catalog",
                type="ChecklistMissing",
                non_retryable=True,
            )
        return AssignChecklistResult(
            assigned=True, checklist_id=data.checklist_id, item_count=3, attempt=1
        )

    @activity.defn(name="escalate")
    async def escalate(self, data: EscalateInput) -> SendEmailResult:
        self.escalations.append((data, activity.info().current_attempt_scheduled_time))
        return SendEmailResult(outcome=SendOutcome.sent, message_id="<e@x>", attempt=1)

    @activity.defn(name="record_status")
    async def record_status(self, data: RecordStatusInput) -> None:
        self.statuses.append(data.status)

    @activity.defn(name="send_invitation")
    async def send_invitation(self, data: SendInvitationInput) -> SendEmailResult:
        self.emails.append(data)
        # The server's clock when the send was scheduled: time-skipping time, not wall time.
        when = activity.info().current_attempt_scheduled_time
        self.sent_at.append((data.purpose.value, data.sequence, data.reminder, when))
        outcome = self.outcomes.pop(0) if self.outcomes else self.email_outcome
        if self.auto_accept and data.purpose == InvitationPurpose.invitation:
            # The director clicks at once: what the API does after checking the token.
            workflow_id = activity.info().workflow_id
            assert workflow_id is not None
            handle = activity.client().get_workflow_handle(workflow_id)
            await handle.signal("accept_invitation", AcceptInvitationInput(sequence=data.sequence))
        return SendEmailResult(outcome=outcome, message_id="<m@x>", attempt=activity.info().attempt)

    def main(self) -> list[Callable[..., Any]]:
        return [
            self.resolve_setup,
            self.check_siret_available,
            self.lookup_enterprise,
            self.check_vat,
            self.create_client,
            self.create_folders,
            self.assign,
            self.connect_integration,
            self.record_integration_failure,
            self.complete_setup,
            self.record_status,
            self.set_notifications,
            self.record_invitation,
            self.escalate,
            self.assign_checklist,
            self.send_invitation,
            self.notify_collaborators,
        ]


def make_input(**changes: Any) -> OnboardingInput:
    data = OnboardingInput(
        onboarding_id=uuid.uuid4(),
        partner_id=uuid.uuid4(),
        partner_name="Firm",
        client=ClientIn(
            first_name="Antoine",
            last_name="Martin",
            email="a@example.com",
            language=Language.fr,
            siret="55203253400646",
        ),
        fiscal_year=FiscalYear.from_start(date(2026, 1, 1)),
        director=DirectorIn(email="d@example.com", first_name="D", last_name="Irector"),
        timeouts=Timeouts(
            company_lookup=timedelta(minutes=2),
            company_details=timedelta(days=2),
            integration_retry_window=timedelta(days=1),
        ),
    )
    return data.model_copy(update=changes)


class Run:
    def __init__(self, env: WorkflowEnvironment, fakes: Fakes) -> None:
        self.env = env
        self.fakes = fakes
        self.queue = f"wf-{uuid.uuid4().hex[:8]}"

    async def __aenter__(self) -> Run:
        # The environment's own client: only it skips time while awaiting a result. It carries
        # the project's data converter, passed in by the fixture.
        client = self.env.client
        self._main = Worker(
            client,
            task_queue=self.queue,
            workflows=[OnboardingWorkflow],
            activities=self.fakes.main(),
            workflow_runner=WORKFLOW_RUNNER,
            interceptors=[DataErrorsAreFinal()],
        )
        self._registry = Worker(
            client, task_queue=f"{self.queue}-registry", activities=[self.fakes.lookup_company]
        )
        await self._main.__aenter__()
        await self._registry.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._registry.__aexit__(None, None, None)
        await self._main.__aexit__(None, None, None)

    async def start(
        self, data: OnboardingInput
    ) -> WorkflowHandle[OnboardingWorkflow, OnboardingView]:
        data = data.model_copy(update={"registry_task_queue": f"{self.queue}-registry"})
        return await self.env.client.start_workflow(
            OnboardingWorkflow.run,
            data,
            id=f"onboarding-{data.onboarding_id}",
            task_queue=self.queue,
        )


async def wait_for_status(
    handle: WorkflowHandle[OnboardingWorkflow, OnboardingView], status: OnboardingStatus
) -> OnboardingView:
    return await eventually(
        lambda: handle.query(OnboardingWorkflow.status),
        until=lambda view: view.status == status,
        what=f"the onboarding {status}",
        within=10,
    )


def belgian_input(**changes: Any) -> OnboardingInput:
    """A Belgian client: an enterprise number and no SIRET."""
    data = make_input()
    client = data.client.model_copy(update={"siret": None, "enterprise_number": "0202239951"})
    return data.model_copy(update={"client": client, **changes})


async def skip_time(env: WorkflowEnvironment, seconds: int) -> None:
    """Skip time on the test server. While a workflow task is open (a local activity's short
    backoff is slept inside it), the server holds time and the sleep lasts in real time; on a
    loaded machine the call can then end with the transport's "Timeout expired" although the
    server goes on. That is no answer about the workflow: wait a moment and let the caller look
    again."""
    try:
        await env.sleep(timedelta(seconds=seconds))
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
            raise
        await asyncio.sleep(1)


async def skip_until_parked(
    env: WorkflowEnvironment, handle: WorkflowHandle[OnboardingWorkflow, OnboardingView]
) -> OnboardingView:
    """Skip a minute at a time until the onboarding parks in NEEDS_ATTENTION (or 100 tries)."""
    view = await handle.query(OnboardingWorkflow.status)
    for _ in range(100):
        if view.status == OnboardingStatus.NEEDS_ATTENTION:
            break
        # Retry backoffs are timers (longer local ones too): skipping time lets them fire.
        await skip_time(env, 60)
        view = await handle.query(OnboardingWorkflow.status)
    return view


class FoldersDown(Fakes):
    """create_folders fails the way an unreachable PostgreSQL does, until `up` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False
        self.folder_attempts = 0

    @activity.defn(name="create_folders")
    async def create_folders(self, data: CreateFoldersInput) -> CreateFoldersResult:
        self.folder_attempts += 1
        if not self.up:
            raise ConnectionRefusedError("connection refused")
        return CreateFoldersResult(
            folders_planned=14, folders_created=14, months=12, attempt=activity.info().attempt
        )


class InvitationSendDown(Fakes):
    """SMTP unreachable for the invitation until `up` (its send parks); the director does not
    click: the acceptance is signalled by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False
        self.auto_accept = False

    @activity.defn(name="send_invitation")
    async def send_invitation(self, data: SendInvitationInput) -> SendEmailResult:
        if not self.up:
            raise ConnectionRefusedError("connection refused")
        return await super().send_invitation(data)


class ChecklistDown(Fakes):
    """assign_checklist (a local activity, after complete_setup) fails until `up`."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False
        self.checklist_id = uuid.uuid4()

    @activity.defn(name="assign_checklist")
    async def assign_checklist(self, data: AssignChecklistInput) -> AssignChecklistResult:
        if not self.up:
            raise ConnectionRefusedError("connection refused")
        return await super().assign_checklist(data)
