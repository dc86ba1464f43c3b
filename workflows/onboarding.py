"""OnboardingWorkflow: one durable run per client onboarding.

Steps: resolve the setup; check and look up the SIRET (waiting for a person's company details when
the registry cannot help); create the client muted, with its director; fiscal year and folders;
collaborators and subscription; integrations in parallel; unmute; the director's invitation.
Every step is an activity with a timeout and an explicit retry policy, and the `status` query
reports every step so ops can see where a run stands and what it waits for. Short PostgreSQL
steps are local activities in runs begun since the `local-db-steps` patch; folders (heartbeats),
the registry, SMTP and partner apps stay remote.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    # Passed through: loaded once by the worker, not re-imported per run in the sandbox. The
    # workflow only uses their pydantic models and activity method references.
    from activities.checklists import AssignChecklistInput, ChecklistActivities
    from activities.client_setup import AssignInput, ClientSetupActivities
    from activities.clients import (
        ClientActivities,
        ClientNotificationsInput,
        CompleteSetupInput,
        CreateClientInput,
        RecordInvitationInput,
        RecordStatusInput,
    )
    from activities.company_checks import CheckSiretInput, CompanyActivities, LookupEnterpriseInput
    from activities.email import SendEmailResult, SendOutcome
    from activities.escalations import EscalateInput, EscalationActivities, EscalationKind
    from activities.folders import CreateFoldersInput, FolderActivities
    from activities.integrations import (
        ConnectIntegrationInput,
        IntegrationActivities,
        RecordIntegrationFailureInput,
    )
    from activities.invitations import (
        CollaboratorActivities,
        InvitationActivities,
        InvitationPurpose,
        NotifyCollaboratorsInput,
        SendInvitationInput,
    )
    from activities.registry import LookupCompanyInput, RegistryActivities
    from activities.setup import ResolveSetupInput, SetupActivities
    from activities.vies import CheckVatInput, ViesActivities
    from domain import search_attributes as sa
    from domain.company import CompanyRecord, VatCheck
    from domain.error_types import ErrorType
    from domain.imports_progress import RowSettled
    from domain.onboarding import (
        IMPORT_SETTLED,
        AcceptInvitationInput,
        CompanyDetails,
        IntegrationStatus,
        InvitationChanged,
        InvitationStage,
        InvitationState,
        NotificationsChanged,
        OnboardingCarried,
        OnboardingInput,
        OnboardingStatus,
        OnboardingView,
        ProvideCompanyDetailsResult,
        RescheduleInvitationInput,
        ResumeResult,
        RetryIntegrationInput,
        RetryIntegrationResult,
        SetNotificationsInput,
        Step,
        StepState,
        StepStatus,
    )
    from domain.setup import EffectiveIntegration, EffectiveSetup, InvitationMode
    from workflows.failures import (
        as_activity_error,
        cause,
        error_type,
        innermost,
        outlasted_retries,
    )
    from workflows.patches import (
        ASSIGN_CHECKLIST,
        BOUNDED_ATTENTION,
        BOUNDED_WAITS,
        ESCALATIONS,
        KBO_LOOKUP,
        LOCAL_DB_STEPS,
        NOTICE_WHEN_SOMEONE,
        PARK_RESUME_TIMES,
        PROJECT_INVITATION,
        VIES_CHECK,
        WAIT_FOR_UNMUTE,
    )
    from workflows.policies import (
        DB_RETRY,
        DB_TIMEOUT,
        FOLDERS_HEARTBEAT,
        FOLDERS_TIMEOUT,
        INTEGRATION_RETRY,
        INTEGRATION_TIMEOUT,
        LOCAL_DB_DEADLINE,
        LOCAL_DB_TIMEOUT,
        LOCAL_RETRY_THRESHOLD,
        REGISTRY_RETRY,
        REGISTRY_TIMEOUT,
        SMTP_RETRY,
        SMTP_TIMEOUT,
        STATUS_DEADLINE,
        STATUS_RETRY,
        VIES_DEADLINE,
        VIES_RETRY,
        VIES_TIMEOUT,
    )


class _Attempted(Protocol):
    attempt: int


R = TypeVar("R", bound=_Attempted)
T = TypeVar("T")
P = TypeVar("P")


# Once one of these, send-now, reschedule and cancel no longer apply.
_SENT_STATES = frozenset(
    {
        InvitationState.sent,
        InvitationState.accepted,
        InvitationState.expired,
        InvitationState.bounced,
    }
)


# Invitation states the clients list derives from the invitations table (see _project_invitation).
_DERIVED_BY_THE_LIST = frozenset(
    {
        InvitationState.pending,
        InvitationState.sent,
        InvitationState.accepted,
        InvitationState.expired,
    }
)


@workflow.defn
class OnboardingWorkflow:
    @workflow.init
    def __init__(self, data: OnboardingInput) -> None:
        self._data = data
        self._view = OnboardingView(
            onboarding_id=data.onboarding_id,
            status=OnboardingStatus.SETTING_UP,
            steps=[StepStatus(name=step) for step in Step],
        )
        self._awaiting_details = False
        self._details: CompanyDetails | None = None
        self._setup: EffectiveSetup | None = None
        self._send_now = False
        self._cancelled = False
        self._resend = False
        self._accepted = False
        self._schedule_version = 0
        self._client_name: str | None = None
        self._told_import = False
        self._stalled: Step | None = None  # a step waiting for a person to resume it
        self._resume = False
        # What the setup's later steps need from its earlier ones, kept so that a run going on
        # from a step parked in an earlier run (patch bounded-attention) need not redo them.
        self._manual: CompanyDetails | None = None  # company details given by hand
        self._setup_muted: bool | None = None  # complete_setup's answer, once it ran
        self._parked_send = False  # the invitation's send parked in the previous run
        # The status and the parked step's state to return to once resumed, for a run that
        # continues as new while parked (None, None: not parked, or carried by an older run).
        self._before_park: tuple[OnboardingStatus | None, StepState | None] = (None, None)
        # The client's notifications switch as asked (keep_muted, then set_notifications), and
        # as last written to the client row (None until setup completes: until then the client
        # stays muted whatever is asked, and complete_setup applies the wish).
        self._muted = data.keep_muted
        self._muted_written: bool | None = None
        # As last written on the client row; (None, None) is the column's initial NULL.
        self._projected: tuple[InvitationState | None, datetime | None] = (None, None)
        # Where the invitation stands, for a run that continues as new (see _wait).
        self._stage = InvitationStage.before_send
        self._run_started = workflow.now()
        self._runs = 1
        if data.carried is not None:
            self._take_over(data.carried)

    def _take_over(self, carried: OnboardingCarried) -> None:
        """Go on from where the previous run of this onboarding stood when it continued as new."""
        self._view = carried.view
        self._setup = carried.view.setup
        self._stage = carried.stage
        self._muted, self._muted_written = carried.muted, carried.muted_written
        self._projected = (carried.projected_state, carried.projected_scheduled_at)
        self._send_now, self._cancelled = carried.send_now, carried.cancelled
        self._resend = carried.resend
        self._schedule_version = carried.schedule_version
        self._client_name = carried.client_name
        self._runs = carried.runs + 1
        # Set before the first task's updates are validated: a resume sent as this run begins
        # is accepted, not refused as "not waiting".
        self._stalled = carried.parked
        self._manual, self._setup_muted = carried.manual, carried.setup_muted
        self._told_import = carried.told_import
        self._parked_send = carried.parked == Step.invitation
        self._before_park = (carried.parked_status, carried.parked_state)

    # ---- the run: the onboarding's story ------------------------------------------------------

    @workflow.run
    async def run(self, data: OnboardingInput) -> OnboardingView:
        try:
            if data.carried is None:
                await self._onboard(data)
            else:
                await self._go_on(data, data.carried)
        except (ActivityError, ApplicationError) as exc:
            self._view.failure = cause(exc)
            self._view.waiting_for = None
            await self._set_status(OnboardingStatus.FAILED)
            raise ApplicationError(
                f"onboarding failed: {self._view.failure}", type=ErrorType.OnboardingFailed
            ) from exc
        # Updates in flight (a retry) finish before the run completes.
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._set_status(OnboardingStatus.COMPLETED)
        return self._view

    async def _onboard(self, data: OnboardingInput) -> None:
        setup = await self._resolve_setup(data)
        company, manual = await self._company(data)
        client_id = self._view.client_id = await self._create_client(data, setup, company, manual)
        folder_count = await self._create_folders(data, setup, client_id)
        await self._assign_collaborators_and_subscription(setup, client_id)
        await self._integrations(setup)
        await self._complete_setup(data, setup, client_id, folder_count)
        await self._after_setup(data, client_id)

    async def _go_on(self, data: OnboardingInput, carried: OnboardingCarried) -> None:
        """A later run of this onboarding: first the step the previous one left parked, if any,
        then on from where it stood (the setup past the steps done, or the invitation)."""
        if carried.parked is not None:
            await self._still_parked(carried.parked)
        if self._muted_written is None:
            await self._onboard(data)
        else:
            assert self._view.client_id is not None
            await self._after_setup(data, self._view.client_id)

    def _done_before(self, step: Step) -> bool:
        """Whether an earlier run of this onboarding finished `step` (it continued as new while a
        later one was parked): such a step is not run again, its results are in the view."""
        finished = (StepState.completed, StepState.skipped, StepState.failed)
        return self._runs > 1 and self._step(step).state in finished

    async def _after_setup(self, data: OnboardingInput, client_id: uuid.UUID) -> None:
        """The invitation, then time for a person to retry the failed integrations."""
        await self._invitation(data, client_id)
        await self._wait_for_integration_retries(data)

    # ---- step 1: the setup ------------------------------------------------------------------

    async def _resolve_setup(self, data: OnboardingInput) -> EffectiveSetup:
        """The template, billing defaults and overrides as one setup; the invitation's mode."""
        if self._done_before(Step.resolve_setup):
            assert self._setup is not None
            return self._setup
        resolved = await self._run_step(
            Step.resolve_setup,
            lambda: self._db(
                SetupActivities.resolve_setup,
                ResolveSetupInput(
                    partner_id=data.partner_id,
                    template_id=data.template_id,
                    overrides=data.overrides,
                ),
            ),
        )
        setup = self._setup = self._view.setup = resolved.setup
        invitation = self._view.invitation
        # An update (reschedule, cancel) may have come in during the first step: it wins.
        if invitation.mode is None:
            invitation.mode = data.invitation_mode or setup.invitation_mode
            if invitation.mode == InvitationMode.scheduled:
                invitation.scheduled_at = data.invitation_scheduled_at
        self._upsert_invitation_attributes()
        return setup

    # ---- step 4 and 5: folders, collaborators and subscription ------------------------------

    async def _create_folders(
        self, data: OnboardingInput, setup: EffectiveSetup, client_id: uuid.UUID
    ) -> int:
        """The fiscal year's folders; how many the tree holds."""
        if self._done_before(Step.folders):
            assert self._view.folders_created is not None
            return self._view.folders_created
        folders = await self._run_step(
            Step.folders,
            lambda: workflow.execute_activity_method(
                FolderActivities.create_folders,
                CreateFoldersInput(
                    client_id=client_id,
                    partner_id=data.partner_id,
                    folder_tree=setup.folder_tree,
                    fiscal_year_start=data.fiscal_year.start,
                    fiscal_year_end=data.fiscal_year.end,
                    language=data.client.language.value,
                ),
                start_to_close_timeout=FOLDERS_TIMEOUT,
                heartbeat_timeout=FOLDERS_HEARTBEAT,
                retry_policy=DB_RETRY,
            ),
        )
        self._view.folders_created = folders.folders_planned
        return folders.folders_planned

    async def _assign_collaborators_and_subscription(
        self, setup: EffectiveSetup, client_id: uuid.UUID
    ) -> None:
        if self._done_before(Step.collaborators_and_subscription):
            return
        await self._run_step(
            Step.collaborators_and_subscription,
            lambda: self._db(
                ClientSetupActivities.assign_collaborators_and_subscription,
                AssignInput(
                    client_id=client_id,
                    user_ids=setup.user_ids,
                    plan=setup.plan,
                    add_ons=setup.add_ons,
                    payer=setup.payer,
                    billing_period=setup.billing_period,
                ),
            ),
        )

    # ---- step 7: setup complete ---------------------------------------------------------------

    async def _complete_setup(
        self,
        data: OnboardingInput,
        setup: EffectiveSetup,
        client_id: uuid.UUID,
        folder_count: int,
    ) -> None:
        """Unmute (unless kept muted), READY, the checklist, then tell the collaborators."""
        # New runs write READY with the setup's completion: one step instead of two.
        folded = self._local_db()
        # Done in an earlier run when the checklist then parked: not again (it wrote READY then,
        # but the park wrote NEEDS_ATTENTION since, so READY is written again below).
        ran_here = self._setup_muted is None
        if ran_here:
            done = await self._run_step(
                Step.complete_setup,
                lambda: self._db(
                    ClientActivities.complete_setup,
                    CompleteSetupInput(
                        client_id=client_id,
                        keep_muted=self._muted,
                        onboarding_id=data.onboarding_id if folded else None,
                        status=OnboardingStatus.READY.value if folded else None,
                    ),
                ),
            )
            self._setup_muted = done.notifications_muted
        muted = self._setup_muted
        assert muted is not None
        # The client is READY as soon as its setup is: said before the checklist, so that a
        # checklist parking and resumed in this run returns to READY (the status the database
        # holds since complete_setup), not to SETTING_UP until the onboarding completes.
        ready_first = workflow.patched(PARK_RESUME_TIMES)
        if ready_first:
            # Already READY when a run going on from the checklist parked in an earlier one
            # gave that status back on its resume: not written twice.
            already = self._view.status == OnboardingStatus.READY
            await self._set_status(
                OnboardingStatus.READY, recorded=(folded and ran_here) or already
            )
        checklist = await self._assign_checklist(data, setup, client_id)
        self._muted_written = self._view.notifications_muted = muted
        if not ready_first:
            await self._set_status(OnboardingStatus.READY, recorded=folded and ran_here)
        await self._write_notifications()  # switched while complete_setup ran
        told_detail = await self._tell_collaborators(data, setup, folder_count)
        self._step(Step.complete_setup).detail = (
            "notifications kept muted" if muted else "notifications on"
        ) + f"; {told_detail}"
        if checklist:
            step = self._step(Step.complete_setup)
            step.detail = f"{step.detail}; {checklist}"

    async def _tell_collaborators(
        self, data: OnboardingInput, setup: EffectiveSetup, folder_count: int
    ) -> str:
        """The collaborators' notice that the client is ready; what became of it, in words."""
        if not setup.user_ids and workflow.patched(NOTICE_WHEN_SOMEONE):
            return "no collaborator to tell"
        told = await self._notice(
            "collaborators' notice",
            lambda: workflow.execute_activity_method(
                CollaboratorActivities.notify_collaborators,
                NotifyCollaboratorsInput(
                    onboarding_id=data.onboarding_id,
                    partner_id=data.partner_id,
                    user_ids=setup.user_ids,
                    client_name=self._client_name or data.client.display_name,
                    language=data.client.language.value,
                    folder_count=folder_count,
                    integrations_connected=[
                        i.code for i in self._view.integrations if i.state == StepState.completed
                    ],
                    integrations_failed=[
                        i.code for i in self._view.integrations if i.state == StepState.failed
                    ],
                ),
                start_to_close_timeout=SMTP_TIMEOUT,
                retry_policy=SMTP_RETRY,
            ),
        )
        return f"{told.notified} collaborator(s) told" if told else "collaborators not told"

    async def _wait_for_integration_retries(self, data: OnboardingInput) -> None:
        """Failed integrations keep the run open for a while so a person can retry them."""
        if not any(i.state == StepState.failed for i in self._view.integrations):
            return
        self._view.waiting_for = "a retry of the failed integrations (retry_integration)"

        def retried() -> bool:
            return all(i.state != StepState.failed for i in self._view.integrations)

        try:
            if workflow.patched(ESCALATIONS):
                await self._wait_or_escalate(
                    data,
                    retried,
                    window=data.timeouts.integration_retry_window,
                    remind_after=data.timeouts.integration_reminder_after,
                    kinds=(
                        EscalationKind.integration_reminder,
                        EscalationKind.integration_left_failed,
                    ),
                )
            else:
                await workflow.wait_condition(
                    retried, timeout=data.timeouts.integration_retry_window
                )
        except TimeoutError:
            pass  # still failed: recorded on the client's integrations; the run may end
        self._view.waiting_for = None

    # ---- step 2: the company ----------------------------------------------------------------

    async def _company(
        self, data: OnboardingInput
    ) -> tuple[CompanyRecord | None, CompanyDetails | None]:
        """(registry record, details by hand): at most one of them is set."""
        if self._done_before(Step.company_lookup):
            # Details by hand replace the record (a duplicate found at the client's creation).
            manual = self._manual
            return (None, manual) if manual is not None else (self._view.company, None)
        step = self._step(Step.company_lookup)
        siret = data.client.siret
        if siret is None:
            number = data.client.enterprise_number
            if number is not None and workflow.patched(KBO_LOOKUP):
                return await self._kbo_company(data, number)
            step.state = StepState.skipped
            step.detail = "no SIRET given"
            return None, None
        step.state = StepState.running
        step.started_at = step.started_at or workflow.now()
        available = await self._patiently(
            Step.company_lookup,
            lambda: self._db(
                CompanyActivities.check_siret_available,
                CheckSiretInput(
                    partner_id=data.partner_id, onboarding_id=data.onboarding_id, siret=siret
                ),
            ),
        )
        if not available.available:
            return None, await self._await_details(data, "SIRET already used by another client")
        try:
            found = await workflow.execute_activity_method(
                RegistryActivities.lookup_company,
                LookupCompanyInput(
                    siret=siret,
                    import_id=data.import_id,
                    siren_shared=data.import_siren_shared,
                ),
                task_queue=data.registry_task_queue,
                start_to_close_timeout=REGISTRY_TIMEOUT,
                schedule_to_close_timeout=data.timeouts.company_lookup,
                retry_policy=REGISTRY_RETRY,
            )
        except ActivityError as exc:
            step.last_error = cause(exc)
            return None, await self._await_details(data, "registry unreachable or refused")
        step.attempts = found.attempt
        if found.company is None:
            return None, await self._await_details(data, "SIRET unknown to the registry")
        if not found.company.active:
            return None, await self._await_details(data, "the company or establishment is closed")
        company = found.company
        # A VAT number given with the request is checked in VIES; runs that began before never
        # had one to check (the field is newer), so the patch is asked only when there is one.
        if data.client.vat_number is not None and workflow.patched(VIES_CHECK):
            vat_check = await self._vat_check(data.client.vat_number)
            company = company.model_copy(update={"vat_check": vat_check})
        step.state = StepState.completed
        step.finished_at = workflow.now()
        step.detail = f"found in {company.source}"
        self._view.company = company
        return company, None

    async def _kbo_company(
        self, data: OnboardingInput, number: str
    ) -> tuple[CompanyRecord | None, CompanyDetails | None]:
        """A Belgian enterprise, looked up in the KBO/BCE Open Data loaded in PostgreSQL: the
        same outcomes as the French registry's (found and active, or a person's details)."""
        step = self._step(Step.company_lookup)
        step.state = StepState.running
        step.started_at = step.started_at or workflow.now()
        found = await self._patiently(
            Step.company_lookup,
            lambda: self._db(
                CompanyActivities.lookup_enterprise,
                LookupEnterpriseInput(
                    partner_id=data.partner_id,
                    onboarding_id=data.onboarding_id,
                    enterprise_number=number,
                    language=data.client.language.value,
                ),
            ),
        )
        step.attempts = found.attempt
        if not found.available:
            return None, await self._await_details(
                data, "enterprise number already used by another client"
            )
        if found.extract_date is None:
            return None, await self._await_details(data, "no KBO/BCE data set loaded")
        where = f"the KBO/BCE Open Data ({found.answered_by}, extract of {found.extract_date})"
        if found.stale:
            self._view.warnings.append(
                f"the KBO/BCE extract is {found.extract_age_days} days old: "
                "the company data may be out of date"
            )
        if found.company is None:
            return None, await self._await_details(data, f"enterprise number unknown to {where}")
        if not found.company.active:
            return None, await self._await_details(data, f"the enterprise is stopped in {where}")
        company = found.company
        if workflow.patched(VIES_CHECK):
            vat = data.client.vat_number or f"BE{number}"
            company = company.model_copy(update={"vat_check": await self._vat_check(vat)})
        step.state = StepState.completed
        step.finished_at = workflow.now()
        step.detail = f"found in {where}"
        self._view.company = company
        return company, None

    async def _vat_check(self, vat: str) -> VatCheck:
        """VIES's word on an EU VAT number ("BE0202239951"): valid, invalid, or unchecked with
        the reason when VIES stays unavailable. Never raises."""
        try:
            result = await workflow.execute_activity_method(
                ViesActivities.check_vat,
                CheckVatInput(country_code=vat[:2], vat_number=vat[2:]),
                start_to_close_timeout=VIES_TIMEOUT,
                schedule_to_close_timeout=VIES_DEADLINE,
                retry_policy=VIES_RETRY,
            )
        except ActivityError as exc:
            return VatCheck(vat_number=vat, state="unchecked", reason=cause(exc))
        return VatCheck(
            vat_number=vat,
            state="valid" if result.valid else "invalid",
            name=result.name,
            checked_at=result.checked_at,
        )

    async def _await_details(self, data: OnboardingInput, reason: str) -> CompanyDetails:
        """Wait for provide_company_details; fail the onboarding if nobody answers in time."""
        step = self._step(Step.company_lookup)
        step.state = StepState.waiting
        step.detail = reason
        self._view.waiting_for = f"company details ({reason}): update provide_company_details"
        self._awaiting_details = True
        await self._set_status(OnboardingStatus.AWAITING_COMPANY_DETAILS)
        try:
            if workflow.patched(ESCALATIONS):
                await self._wait_or_escalate(
                    data,
                    lambda: self._details is not None,
                    window=data.timeouts.company_details,
                    remind_after=data.timeouts.details_reminder_after,
                    kinds=(EscalationKind.details_reminder, EscalationKind.details_deadline),
                )
            else:
                await workflow.wait_condition(
                    lambda: self._details is not None, timeout=data.timeouts.company_details
                )
        except TimeoutError:
            raise ApplicationError(
                f"no company details provided within {data.timeouts.company_details} ({reason})",
                type=ErrorType.CompanyDetailsTimeout,
                non_retryable=True,
            ) from None
        self._awaiting_details = False
        details = self._manual = self._details
        assert details is not None
        self._details = None
        self._view.waiting_for = None
        step.state = StepState.completed
        step.finished_at = workflow.now()
        step.detail = f"{reason}; details provided by hand"
        await self._set_status(OnboardingStatus.SETTING_UP)
        return details

    # ---- step 3: the client ---------------------------------------------------------------------

    async def _create_client(
        self,
        data: OnboardingInput,
        setup: EffectiveSetup,
        company: CompanyRecord | None,
        manual: CompanyDetails | None,
    ) -> uuid.UUID:
        if self._done_before(Step.create_client):
            assert self._view.client_id is not None
            return self._view.client_id
        while True:
            name: str | None
            siret: str | None
            record: dict[str, Any] | None
            enterprise_number: str | None
            if company is not None:
                name, siret, record = company.name, company.siret, company.model_dump(mode="json")
                enterprise_number = company.enterprise_number or data.client.enterprise_number
            elif manual is not None:
                name, siret, record = manual.name, manual.siret, manual.model_dump(mode="json")
                enterprise_number = manual.enterprise_number
            else:
                name, siret, record = data.client.company_name, None, None
                enterprise_number = data.client.enterprise_number
            self._client_name = name or data.client.display_name
            payload = CreateClientInput(
                onboarding_id=data.onboarding_id,
                partner_id=data.partner_id,
                client=data.client,
                director=data.director,
                setup=setup,
                company_name=name,
                siret=siret,
                company=record,
                enterprise_number=enterprise_number,
            )
            try:
                created = await self._run_step(
                    Step.create_client,
                    functools.partial(self._db, ClientActivities.create_client, payload),
                )
                return created.client_id
            except ActivityError as exc:
                kind = error_type(exc)
                if kind not in (ErrorType.DuplicateSiret, ErrorType.DuplicateEnterpriseNumber):
                    raise
                # Another onboarding took the number since the check: a person must decide.
                self._step(Step.create_client).state = StepState.pending
                what = "SIRET" if kind == ErrorType.DuplicateSiret else "enterprise number"
                company, manual = (
                    None,
                    await self._await_details(data, f"{what} already used by another client"),
                )

    # ---- step 6: integrations ---------------------------------------------------------------

    async def _integrations(self, setup: EffectiveSetup) -> None:
        step = self._step(Step.integrations)
        if self._done_before(Step.integrations):
            return
        if not setup.integrations:
            step.state = StepState.skipped
            step.detail = "no integrations in the setup"
            return
        step.state = StepState.running
        step.started_at = step.started_at or workflow.now()
        # A run going on from this step parked in an earlier one keeps what that one knew, and
        # connects again only what is not connected yet.
        known = {i.code: i for i in self._view.integrations}
        self._view.integrations = [
            known.get(i.code) or IntegrationStatus(code=i.code, state=StepState.pending)
            for i in setup.integrations
        ]
        connected = {i.code for i in self._view.integrations if i.state == StepState.completed}
        # In parallel: apps are independent, and one slow app must not hold up the others.
        await asyncio.gather(
            *(self._connect(i) for i in setup.integrations if i.code not in connected)
        )
        failed = [i.code for i in self._view.integrations if i.state == StepState.failed]
        step.finished_at = workflow.now()
        step.state = StepState.failed if failed else StepState.completed
        step.detail = f"failed: {', '.join(failed)} (retry_integration)" if failed else None

    async def _connect(self, integration: EffectiveIntegration, *, bounded: bool = True) -> None:
        """Connect one app; `bounded`: see _until_resumed (False from an update's handler)."""
        status = next(i for i in self._view.integrations if i.code == integration.code)
        status.state = StepState.running
        assert self._view.client_id is not None
        try:
            result = await workflow.execute_activity_method(
                IntegrationActivities.connect_integration,
                ConnectIntegrationInput(
                    client_id=self._view.client_id,
                    partner_id=self._data.partner_id,
                    onboarding_id=self._data.onboarding_id,
                    template_id=self._setup.template_id if self._setup else None,
                    integration=integration,
                ),
                start_to_close_timeout=INTEGRATION_TIMEOUT,
                retry_policy=INTEGRATION_RETRY,
            )
        except ActivityError as exc:
            status.state = StepState.failed
            status.last_error = cause(exc)
            status.attempts += 1
            # A failed integration is recorded and the onboarding goes on.
            await self._patiently(
                Step.integrations,
                lambda: self._db(
                    IntegrationActivities.record_integration_failure,
                    RecordIntegrationFailureInput(
                        client_id=self._view.client_id,
                        code=integration.code,
                        kind=integration.kind,
                        error=status.last_error,
                    ),
                ),
                bounded=bounded,
            )
            return
        status.state = StepState.completed
        status.attempts += result.attempt
        status.last_error = None
        if all(i.state == StepState.completed for i in self._view.integrations):
            step = self._step(Step.integrations)
            step.state, step.detail = StepState.completed, None

    # ---- step 8 and 9: invitation, reminders, expiry, acceptance ---------------------------

    def _invitation_input(
        self,
        data: OnboardingInput,
        client_id: uuid.UUID,
        purpose: InvitationPurpose,
        reminder: int = 0,
    ) -> SendInvitationInput:
        invitation = self._view.invitation
        assert invitation.expires_at is not None
        return SendInvitationInput(
            onboarding_id=data.onboarding_id,
            partner_id=data.partner_id,
            client_id=client_id,
            purpose=purpose,
            sequence=invitation.sequence,
            reminder=reminder,
            expires_at=invitation.expires_at,
            # Ids only: the activity reads the director and the client's name from PostgreSQL,
            # so each send's history entry names no one (data minimisation).
            themes=data.director.themes,
            language=data.client.language.value,
        )

    async def _send(
        self,
        data: OnboardingInput,
        client_id: uuid.UUID,
        purpose: InvitationPurpose,
        reminder: int = 0,
    ) -> SendEmailResult:
        return await workflow.execute_activity_method(
            InvitationActivities.send_invitation,
            self._invitation_input(data, client_id, purpose, reminder),
            start_to_close_timeout=SMTP_TIMEOUT,
            retry_policy=SMTP_RETRY,
        )

    async def _project_invitation(self) -> None:
        """Write where the invitation stands on the client row, when it changed."""
        self._refresh_details()
        client_id = self._view.client_id
        if client_id is None or not workflow.patched(PROJECT_INVITATION):
            return
        invitation = self._view.invitation
        # The list reads pending, sent, accepted and expired from the invitations table itself
        # (NULL here): the common path, sent at once then accepted, writes nothing more.
        state = None if invitation.state in _DERIVED_BY_THE_LIST else invitation.state
        scheduled = invitation.scheduled_at if state == InvitationState.scheduled else None
        if self._projected == (state, scheduled):
            return
        self._projected = (state, scheduled)
        await self._db(
            ClientActivities.record_invitation,
            RecordInvitationInput(
                client_id=client_id,
                state=state.value if state else None,
                scheduled_at=scheduled,
            ),
            retry_policy=STATUS_RETRY,
            deadline=STATUS_DEADLINE,
        )

    async def _assign_checklist(
        self, data: OnboardingInput, setup: EffectiveSetup, client_id: uuid.UUID
    ) -> str | None:
        """The setup's checklist (seed 003) becomes the client's, once setup is complete and
        before the invitation, which lists what the director will be asked for. One removed from
        the catalog meanwhile is noted, not fatal: the client is set up all the same."""
        if setup.checklist_id is None or not workflow.patched(ASSIGN_CHECKLIST):
            return None
        try:
            assigned = await self._patiently(
                Step.complete_setup,
                lambda: self._db(
                    ChecklistActivities.assign_checklist,
                    AssignChecklistInput(
                        partner_id=data.partner_id,
                        client_id=client_id,
                        checklist_id=setup.checklist_id,
                    ),
                ),
            )
        except ActivityError as exc:
            if error_type(exc) != ErrorType.ChecklistMissing:
                raise
            self._view.notices_not_sent.append(f"checklist: {cause(exc)}")
            return "checklist no longer in the catalog: not assigned"
        return f"checklist of {assigned.item_count} item(s) assigned"

    async def _wait_or_escalate(
        self,
        data: OnboardingInput,
        done: Callable[[], bool],
        *,
        window: timedelta,
        remind_after: timedelta | None,
        kinds: tuple[EscalationKind, EscalationKind],
    ) -> None:
        """Wait up to `window` for `done`, reminding the onboarding's creator on the way (half-way
        unless set) and telling them at the end; TimeoutError then, as a plain wait would."""
        deadline = workflow.now() + window
        remind_after = window / 2 if remind_after is None else remind_after
        if remind_after < window:
            try:
                await workflow.wait_condition(done, timeout=remind_after)
                return
            except TimeoutError:
                await self._escalate(data, kinds[0], deadline)
        try:
            await workflow.wait_condition(
                done, timeout=max(deadline - workflow.now(), timedelta(0))
            )
        except TimeoutError:
            await self._escalate(data, kinds[1], deadline)
            raise

    async def _escalate(
        self, data: OnboardingInput, kind: EscalationKind, deadline: datetime
    ) -> None:
        failed = [i.code for i in self._view.integrations if i.state == StepState.failed]
        await self._notice(
            f"escalation {kind.value}",
            lambda: workflow.execute_activity_method(
                EscalationActivities.escalate,
                EscalateInput(
                    onboarding_id=data.onboarding_id,
                    partner_id=data.partner_id,
                    kind=kind,
                    language=data.client.language.value,
                    deadline=deadline,
                    siret=data.client.siret,
                    integrations=failed if kind.value.startswith("integration") else [],
                ),
                start_to_close_timeout=SMTP_TIMEOUT,
                retry_policy=SMTP_RETRY,
            ),
        )

    async def _wait_for_unmute(self) -> None:
        """Never invite while muted: wait, visibly, until the notifications are switched on."""
        if not self._muted:
            return
        invitation, step = self._view.invitation, self._step(Step.invitation)
        invitation.state = InvitationState.muted
        step.state, step.detail = StepState.waiting, "notifications off: not sent until on"
        self._view.waiting_for = (
            "the client's notifications to be switched on (POST /v1/clients/{id}/notifications)"
        )
        await self._project_invitation()
        await self._set_status(OnboardingStatus.WAITING_FOR_UNMUTE)
        await self._wait(lambda: not self._muted)
        invitation.state = InvitationState.pending  # what comes next says scheduled, manual...
        self._view.waiting_for = None
        await self._set_status(OnboardingStatus.READY)

    def _changed_since(self, version: int) -> bool:
        return self._send_now or self._schedule_version != version

    async def _wait_until_send(self) -> None:
        """Block until the invitation should go: at once, at its time, or when someone says."""
        invitation = self._view.invitation
        step = self._step(Step.invitation)
        while not self._send_now:
            changed = functools.partial(self._changed_since, self._schedule_version)
            if self._cancelled:
                invitation.state = InvitationState.cancelled
                step.state, step.detail = StepState.waiting, "cancelled: send-now or reschedule"
                self._view.waiting_for = "the invitation was cancelled (send_invitation_now)"
                await self._project_invitation()
                await self._wait(changed)
            elif invitation.mode == InvitationMode.manual:
                invitation.state = InvitationState.waiting_manual
                step.state, step.detail = StepState.waiting, "manual: waiting for send-now"
                self._view.waiting_for = "someone to send the invitation (send_invitation_now)"
                await self._project_invitation()
                await self._wait(changed)
            elif invitation.mode == InvitationMode.scheduled and invitation.scheduled_at:
                invitation.state = InvitationState.scheduled
                step.state = StepState.waiting
                step.detail = f"scheduled for {invitation.scheduled_at.isoformat()}"
                delay = invitation.scheduled_at - workflow.now()
                if delay <= timedelta(0):
                    break  # the time fell during setup: send now that setup is complete
                await self._project_invitation()
                # A durable timer: it survives worker restarts; an update cuts it short.
                try:
                    await self._wait(changed, within=delay)
                except TimeoutError:
                    break
            else:
                break  # immediate
        self._view.waiting_for = None

    async def _invitation(self, data: OnboardingInput, client_id: uuid.UUID) -> None:
        invitation = self._view.invitation
        step = self._step(Step.invitation)
        if self._stage == InvitationStage.before_send:
            if data.keep_muted and self._runs == 1 and not workflow.patched(WAIT_FOR_UNMUTE):
                # Runs begun before the switch existed: never sent, and nothing could unmute them.
                invitation.state = InvitationState.muted
                step.state, step.detail = StepState.skipped, "notifications kept muted: not sent"
                return
            await self._wait_for_unmute()
            await self._wait_until_send()
            self._stage = InvitationStage.send
        while True:
            if self._stage == InvitationStage.send:
                if not await self._send_invitation(data, client_id):
                    self._stage = InvitationStage.resend
                    await self._wait(lambda: self._resend)
                    self._stage = InvitationStage.send
                    continue
                self._stage = InvitationStage.acceptance
            if self._stage == InvitationStage.acceptance:
                if await self._await_acceptance(data, client_id):
                    invitation.state = InvitationState.accepted
                    invitation.accepted_at = workflow.now()
                    step.state, step.detail = StepState.completed, "accepted"
                    step.finished_at = workflow.now()
                    self._view.waiting_for = None
                    return
                invitation.state = InvitationState.expired
                step.state, step.detail = StepState.failed, "expired without being accepted"
                await self._notice(
                    "expiry notice",
                    lambda: self._send(data, client_id, InvitationPurpose.expired),
                )
                self._view.waiting_for = "resend_invitation (the invitation expired)"
            self._stage = InvitationStage.resend
            await self._wait(lambda: self._resend)
            self._stage = InvitationStage.send

    async def _send_invitation(self, data: OnboardingInput, client_id: uuid.UUID) -> bool:
        """Send the invitation (a new sequence, token and expiry); False if it bounced."""
        invitation = self._view.invitation
        step = self._step(Step.invitation)
        # Muted again while the invitation waited for its time, or before a resend.
        await self._wait_for_unmute()
        if self._parked_send:
            # Parked in the previous run: the same invitation (sequence, hence the same token
            # and e-mail log key: never two) is tried again, as a resume in that run would; its
            # reminders count from now, not from days ago (they would all go at once).
            self._parked_send = False
            invitation.sent_at = workflow.now()
        else:
            invitation.sequence += 1
            invitation.sent_at = workflow.now()
            invitation.expires_at = workflow.now() + data.timeouts.invitation_expiry
            invitation.reminders_sent = 0
            self._resend = False
        sent = await self._run_step(
            Step.invitation, lambda: self._send(data, client_id, InvitationPurpose.invitation)
        )
        if workflow.patched(PARK_RESUME_TIMES):
            # The reminders count from when the e-mail went, not from the first try: a send
            # parked for days and resumed in this run would otherwise remind at once. The
            # expiry stays the token's (made and recorded with this sequence at the first try).
            invitation.sent_at = workflow.now()
        if sent.outcome in (SendOutcome.bounced, SendOutcome.suppressed):
            invitation.state = InvitationState.bounced
            invitation.last_error = sent.error or f"e-mail {sent.outcome.value}"
            step.state, step.detail = StepState.failed, invitation.last_error
            self._view.waiting_for = "a corrected address, then resend_invitation"
            await self._project_invitation()
            return False
        invitation.state = InvitationState.sent
        step.state, step.detail = StepState.waiting, "sent: waiting for acceptance"
        self._view.waiting_for = "the director to accept the invitation"
        await self._project_invitation()
        return True

    async def _await_acceptance(self, data: OnboardingInput, client_id: uuid.UUID) -> bool:
        """Reminders at their delays while not accepted; False once the invitation expires."""
        invitation = self._view.invitation
        assert invitation.sent_at is not None and invitation.expires_at is not None
        deadlines = [invitation.sent_at + d for d in data.timeouts.invitation_reminders]
        for number, at in enumerate(deadlines, start=1):
            if at >= invitation.expires_at:
                break
            if number <= invitation.reminders_sent:
                continue  # sent by an earlier run of this onboarding
            try:
                await self._wait(
                    lambda: self._accepted, within=max(at - workflow.now(), timedelta(0))
                )
                return True
            except TimeoutError:
                await self._notice(
                    f"reminder {number}",
                    functools.partial(
                        self._send, data, client_id, InvitationPurpose.reminder, reminder=number
                    ),
                )
                invitation.reminders_sent = number
        try:
            await self._wait(
                lambda: self._accepted,
                within=max(invitation.expires_at - workflow.now(), timedelta(0)),
            )
        except TimeoutError:
            return False
        return True

    async def _wait(self, done: Callable[[], bool], *, within: timedelta | None = None) -> None:
        """wait_condition (TimeoutError after `within`), but in runs begun since the patch
        BOUNDED_WAITS never past the run's maximum age: then the run continues as new with its
        state, and the next one waits the rest. Only the waits after setup come here: the ones
        that can last (an unmute, a manual send, a scheduled time, a resend, the director)."""
        limit = self._data.timeouts.max_run_age
        if limit is None or not workflow.patched(BOUNDED_WAITS):
            await workflow.wait_condition(done, timeout=within)
            return
        left = max(self._run_started + limit - workflow.now(), timedelta(0))
        if within is not None and within <= left:
            await workflow.wait_condition(done, timeout=within)
            return
        try:
            await workflow.wait_condition(done, timeout=left)
        except TimeoutError:
            await self._continue_as_new()

    async def _continue_as_new(self, *, parked: Step | None = None) -> NoReturn:
        """Hand where this onboarding stands to a new run of it, and end this one; `parked`: the
        step this run left waiting in NEEDS_ATTENTION, which the next one waits on again."""
        # Updates in flight finish here first: the next run must start from their effects.
        await workflow.wait_condition(workflow.all_handlers_finished)
        invitation_state, scheduled_at = self._projected
        carried = OnboardingCarried(
            view=self._view,
            stage=self._stage,
            muted=self._muted,
            muted_written=self._muted_written,
            projected_state=invitation_state,
            projected_scheduled_at=scheduled_at,
            send_now=self._send_now,
            cancelled=self._cancelled,
            resend=self._resend,
            schedule_version=self._schedule_version,
            client_name=self._client_name,
            runs=self._runs,
            parked=parked,
            manual=self._manual,
            setup_muted=self._setup_muted,
            told_import=self._told_import,
            parked_status=self._before_park[0] if parked else None,
            parked_state=self._before_park[1] if parked else None,
        )
        workflow.continue_as_new(self._data.model_copy(update={"carried": carried}))

    # ---- queries and updates ------------------------------------------------------------------

    @workflow.query
    def status(self) -> OnboardingView:
        """Every step with its state, attempts, last error and timestamps."""
        return self._view

    @workflow.update
    async def provide_company_details(self, details: CompanyDetails) -> ProvideCompanyDetailsResult:
        """Company data entered by a person when the registry could not provide it."""
        self._details = details
        return ProvideCompanyDetailsResult(accepted=True, status=self._view.status)

    @provide_company_details.validator
    def _validate_company_details(self, details: CompanyDetails) -> None:
        # A validator rejects before anything is written to history: a late or stray call
        # leaves no trace and the caller learns why at once.
        if not self._awaiting_details:
            raise ValueError("this onboarding is not waiting for company details")

    @workflow.update
    async def resume(self) -> ResumeResult:
        """Try a stalled step again, once a person has fixed what made it fail."""
        assert self._stalled is not None
        step = self._stalled
        self._resume = True
        return ResumeResult(step=step, status=self._view.status)

    @resume.validator
    def _validate_resume(self) -> None:
        if self._stalled is None:
            raise ValueError("this onboarding is not waiting to be resumed")

    @workflow.update
    async def retry_integration(self, data: RetryIntegrationInput) -> RetryIntegrationResult:
        """Try a failed integration again, with a fresh set of attempts."""
        assert self._view.client_id is not None and self._setup is not None
        integration = next(i for i in self._setup.integrations if i.code == data.code)
        await self._connect(integration, bounded=False)
        state = next(i.state for i in self._view.integrations if i.code == data.code)
        return RetryIntegrationResult(code=data.code, state=state)

    @retry_integration.validator
    def _validate_retry_integration(self, data: RetryIntegrationInput) -> None:
        failed = {i.code for i in self._view.integrations if i.state == StepState.failed}
        if data.code not in failed:
            raise ValueError(
                f"integration {data.code!r} has not failed"
                + (f"; failed ones: {', '.join(sorted(failed))}" if failed else "")
            )

    @workflow.update
    async def send_invitation_now(self) -> InvitationChanged:
        """Send the director's invitation now (manual mode, scheduled, or cancelled)."""
        self._send_now = True
        return InvitationChanged(state=self._view.invitation.state)

    @send_invitation_now.validator
    def _validate_send_now(self) -> None:
        if self._view.invitation.state in _SENT_STATES:
            raise ValueError(
                f"the invitation is {self._view.invitation.state.value}; use resend_invitation "
                "after expiry or a bounce"
            )

    @workflow.update
    async def reschedule_invitation(self, data: RescheduleInvitationInput) -> InvitationChanged:
        """Send the invitation at another time (turns a manual or cancelled one into scheduled)."""
        invitation = self._view.invitation
        invitation.mode = InvitationMode.scheduled
        invitation.scheduled_at = data.scheduled_at.astimezone(UTC)
        self._cancelled = False
        self._schedule_version += 1
        self._upsert_invitation_attributes()
        if invitation.state != InvitationState.pending:
            invitation.state = InvitationState.scheduled
        return InvitationChanged(state=invitation.state, scheduled_at=invitation.scheduled_at)

    @reschedule_invitation.validator
    def _validate_reschedule(self, data: RescheduleInvitationInput) -> None:
        if self._view.invitation.state in _SENT_STATES:
            raise ValueError(f"the invitation is already {self._view.invitation.state.value}")
        if data.scheduled_at <= workflow.now():
            raise ValueError("scheduled_at is in the past")

    @workflow.update
    async def cancel_invitation(self) -> InvitationChanged:
        """Do not send the invitation; send-now or reschedule can still bring it back."""
        self._cancelled = True
        self._schedule_version += 1
        invitation = self._view.invitation
        invitation.scheduled_at = None
        self._upsert_invitation_attributes()
        if invitation.state != InvitationState.pending:
            invitation.state = InvitationState.cancelled
        return InvitationChanged(state=invitation.state)

    @cancel_invitation.validator
    def _validate_cancel(self) -> None:
        if self._view.invitation.state in _SENT_STATES:
            raise ValueError(f"the invitation is already {self._view.invitation.state.value}")

    @workflow.update
    async def resend_invitation(self) -> InvitationChanged:
        """Send a new invitation (new token, new expiry) after an expiry or a bounce."""
        self._resend = True
        return InvitationChanged(state=self._view.invitation.state)

    @resend_invitation.validator
    def _validate_resend(self) -> None:
        # A second resend while the first is pending or its e-mail in flight (the state still
        # says expired or bounced) would leave the flag set, and the next expiry would resend
        # by itself. Validators leave no history, so this changes no replay.
        if self._resend or self._step(Step.invitation).state == StepState.running:
            raise ValueError("a new invitation is already on its way")
        if self._view.invitation.state not in (InvitationState.expired, InvitationState.bounced):
            raise ValueError(
                f"the invitation is {self._view.invitation.state.value}; a resend is for an "
                "expired or bounced one"
            )

    @workflow.update
    async def set_notifications(self, data: SetNotificationsInput) -> NotificationsChanged:
        """Switch the client's notifications on or off at any time. The invitation is never sent
        while they are off: the onboarding waits (WAITING_FOR_UNMUTE) and goes on, according to
        its invitation mode, once they are on."""
        self._muted = not data.enabled
        await self._write_notifications()
        return NotificationsChanged(
            enabled=not self._muted,
            applied=self._muted_written == self._muted,
            status=self._view.status,
            invitation=self._view.invitation.state,
        )

    async def _write_notifications(self) -> None:
        """Bring the client row in line with the switch, once setup has completed. Two updates
        close together each write; the loop ends with the row holding the last wish."""
        while self._muted_written is not None and self._muted_written != self._muted:
            wanted = self._muted
            assert self._view.client_id is not None
            await self._db(
                ClientActivities.set_notifications,
                ClientNotificationsInput(client_id=self._view.client_id, muted=wanted),
            )
            self._muted_written = wanted
            self._view.notifications_muted = wanted

    @workflow.signal
    async def accept_invitation(self, data: AcceptInvitationInput) -> None:
        """Sent by the API once it has checked and used the director's token."""
        # Signals of an older, superseded invitation cannot arrive: the API revokes old tokens.
        if data.sequence == self._view.invitation.sequence:
            self._accepted = True

    def _upsert_invitation_attributes(self) -> None:
        invitation = self._view.invitation
        updates = [sa.INVITATION_MODE.value_set((invitation.mode or InvitationMode.manual).value)]
        workflow.upsert_search_attributes(updates)
        if invitation.scheduled_at is not None and not self._cancelled:
            workflow.upsert_search_attributes(
                [sa.INVITATION_SCHEDULED_AT.value_set(invitation.scheduled_at)]
            )
        else:
            workflow.upsert_search_attributes([sa.INVITATION_SCHEDULED_AT.value_unset()])

    # ---- plumbing -------------------------------------------------------------------------------

    def _step(self, step: Step) -> StepStatus:
        return next(s for s in self._view.steps if s.name == step)

    def _local_db(self) -> bool:
        """Whether this run takes its short PostgreSQL steps as local activities.

        Runs begun before the change keep their remote activities to the end: `patched` is
        False while replaying a history without the marker, and the SDK remembers that answer
        for the run, so such a run never mixes the two kinds.
        """
        return workflow.patched(LOCAL_DB_STEPS)

    async def _db(
        self,
        method: Callable[[Any, P], Awaitable[T]],
        arg: P,
        *,
        retry_policy: RetryPolicy = DB_RETRY,
        deadline: timedelta | None = None,
    ) -> T:
        """A short PostgreSQL step: local in new runs, remote (as recorded) in older ones."""
        if self._local_db():
            try:
                return await workflow.execute_local_activity_method(
                    method,
                    arg,
                    start_to_close_timeout=LOCAL_DB_TIMEOUT,
                    schedule_to_close_timeout=deadline or LOCAL_DB_DEADLINE,
                    retry_policy=retry_policy,
                    local_retry_threshold=LOCAL_RETRY_THRESHOLD,
                )
            except (ActivityError, ApplicationError, ActivityTimeout) as exc:
                raise as_activity_error(exc, method, retry_policy) from innermost(exc)
        return await workflow.execute_activity_method(
            method,
            arg,
            start_to_close_timeout=DB_TIMEOUT,
            schedule_to_close_timeout=deadline,
            retry_policy=retry_policy,
        )

    def _refresh_details(self) -> None:
        """What the Temporal UI shows as this run's current details: the status, the step at
        work and what the onboarding waits for (our own words and ids: no personal data)."""
        view = self._view
        running = [s.name.value for s in view.steps if s.state == StepState.running]
        lines = [f"**{view.status.value}**" + (f" · step: {', '.join(running)}" if running else "")]
        if view.waiting_for:
            lines.append(f"Waiting for: {view.waiting_for}")
        if view.invitation.state != InvitationState.pending:
            lines.append(f"Invitation: {view.invitation.state.value}")
        workflow.set_current_details("\n\n".join(lines))

    async def _run_step(self, step: Step, call: Callable[[], Awaitable[R]]) -> R:
        status = self._step(step)
        status.state = StepState.running
        status.started_at = status.started_at or workflow.now()
        self._refresh_details()
        try:
            result = await self._patiently(step, call)
        except ActivityError as exc:
            status.state = StepState.failed
            status.finished_at = workflow.now()
            status.last_error = cause(exc)
            raise
        status.state = StepState.completed
        status.attempts += result.attempt
        status.finished_at = workflow.now()
        return result

    async def _patiently(
        self, step: Step, call: Callable[[], Awaitable[T]], *, bounded: bool = True
    ) -> T:
        """Run an activity; when it outlasts its retries, wait for a person to resume it, then
        run it again. Any other failure (bad data, a business rule) is raised. `bounded`: see
        _until_resumed."""
        while True:
            try:
                return await call()
            except ActivityError as exc:
                if not outlasted_retries(exc):
                    raise
                status = self._step(step)
                status.last_error = cause(exc)
                await self._wait_for_resume(step, status, bounded=bounded)

    async def _notice(self, what: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """Send a notice that must not hold the onboarding up: after its retries, noted, skipped."""
        try:
            return await call()
        except ActivityError as exc:
            if not outlasted_retries(exc):
                raise
            workflow.logger.warning("notice not sent", extra={"notice": what})
            self._view.notices_not_sent.append(f"{what}: {cause(exc)}")
            return None

    async def _wait_for_resume(self, step: Step, status: StepStatus, *, bounded: bool) -> None:
        """A step outlasted its retries: park the onboarding, visibly, until a person resumes it."""
        previous, previous_waiting = self._view.status, self._view.waiting_for
        # Back to it once resumed: running for a step's own activity, completed when a later
        # part of a finished step parked (the checklist after complete_setup). Another park of
        # the same step may be waiting already (integrations connect in parallel): not its
        # waiting state nor its NEEDS_ATTENTION, then.
        waiting = status.state == StepState.waiting
        previous_state = StepState.running if waiting else status.state
        if previous != OnboardingStatus.NEEDS_ATTENTION:
            self._before_park = (previous, previous_state)
        status.state = StepState.waiting
        self._stalled, self._resume = step, False
        self._view.waiting_for = (
            f"a person to fix the cause, then resume: step {step.value} kept failing "
            f"({status.last_error})"
        )
        await self._set_status(OnboardingStatus.NEEDS_ATTENTION)
        await self._until_resumed(step, bounded=bounded)
        self._stalled, self._resume = None, False
        self._view.waiting_for = previous_waiting
        status.state = previous_state
        await self._set_status(previous)

    async def _still_parked(self, step: Step) -> None:
        """The previous run continued as new while `step` waited for a person: wait again, from
        the view it handed over (NEEDS_ATTENTION, the step's last error, what to do; already
        written to the database and the search attributes), then go on as a resume does."""
        await self._until_resumed(step, bounded=True)
        self._stalled, self._resume = None, False
        self._view.waiting_for = None  # the steps that follow say what they wait for
        previous, state = self._before_park
        self._step(step).state = state or StepState.running
        if previous is None:
            # Carried by a run that did not say: parks happen while setting up, or once set up
            # at the invitation's send.
            ready = self._muted_written is not None
            previous = OnboardingStatus.READY if ready else OnboardingStatus.SETTING_UP
        await self._set_status(previous)

    async def _until_resumed(self, step: Step, *, bounded: bool) -> None:
        """Wait for `resume`; in runs begun since the patch BOUNDED_ATTENTION, never past the
        run's maximum age: then the run continues as new, still parked on `step`, and the next
        one waits the rest. Not `bounded` in an update's handler (retry_integration): a run
        cannot continue as new from one, and waits for its handlers to finish before it does."""
        limit = self._data.timeouts.max_run_age
        if not bounded or limit is None or not workflow.patched(BOUNDED_ATTENTION):
            await workflow.wait_condition(lambda: self._resume)
            return
        left = max(self._run_started + limit - workflow.now(), timedelta(0))
        try:
            await workflow.wait_condition(lambda: self._resume, timeout=left)
        except TimeoutError:
            # A resume accepted as the time ran out is this run's to carry out: it would be
            # lost with the run (the caller was told the step is tried again).
            await workflow.wait_condition(workflow.all_handlers_finished)
            if not self._resume:
                await self._continue_as_new(parked=step)

    async def _set_status(self, status: OnboardingStatus, *, recorded: bool = False) -> None:
        """`recorded`: the step that changed the status already wrote it to the database."""
        changed = status != self._view.status
        self._view.status = status
        self._refresh_details()
        updates: list[SearchAttributeUpdate[Any]] = [sa.ONBOARDING_STATUS.value_set(status.value)]
        if changed:
            # Since when: the UI's stuck search (the start set it for SETTING_UP).
            updates.append(sa.STATUS_SINCE.value_set(workflow.now()))
        workflow.upsert_search_attributes(updates)
        if not recorded:
            await self._db(
                ClientActivities.record_status,
                RecordStatusInput(onboarding_id=self._data.onboarding_id, status=status.value),
                retry_policy=STATUS_RETRY,
                deadline=STATUS_DEADLINE,
            )
        if status in IMPORT_SETTLED and not self._told_import:
            await self._tell_import(status)

    async def _tell_import(self, status: OnboardingStatus) -> None:
        """A bulk import's window slot is freed once this onboarding no longer sets up."""
        parent = workflow.info().parent
        if parent is None or self._data.import_row is None or self._data.import_reads_settled:
            return
        self._told_import = True
        try:
            await workflow.get_external_workflow_handle(parent.workflow_id).signal(
                "row_settled", RowSettled(row=self._data.import_row, status=status.value)
            )
        except Exception:  # the import finished or was deleted: nobody left to tell
            workflow.logger.info("bulk import no longer listening")
