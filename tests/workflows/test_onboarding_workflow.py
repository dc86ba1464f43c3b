"""OnboardingWorkflow under the time-skipping test server, every branch, with fakes standing in
for the activities (each registered under the real activity's name, so the workflow is unchanged).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.company_checks import (
    LookupEnterpriseResult,
)
from activities.registry import LookupCompanyResult
from domain.onboarding import (
    CompanyDetails,
    OnboardingStatus,
    RetryIntegrationInput,
    Step,
    StepState,
)
from domain.setup import (
    EffectiveIntegration,
    IntegrationKind,
    InvitationMode,
)
from tests.eventually import eventually
from tests.workflow_helpers import DANONE, Fakes, Run, belgian_input, make_input, wait_for_status
from workflows.onboarding import OnboardingWorkflow


async def test_registry_found_completes_with_company(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The registry knows the SIRET: its data names the client and every step completes."""
    fakes = Fakes()
    fakes.user_ids = [uuid.uuid4()]
    async with Run(time_skipping_env, fakes) as run:
        view = await (await run.start(make_input())).result()
    assert view.status == OnboardingStatus.COMPLETED
    assert fakes.created[0].company_name == "DANONE"
    assert fakes.created[0].siret == "55203253400646"
    assert {s.name.value: s.state for s in view.steps}["company_lookup"] == StepState.completed
    assert fakes.statuses == ["READY", "COMPLETED"]
    assert fakes.projected == []  # sent at once then accepted: the list derives it, no write
    [notice] = fakes.collaborator_notices  # the firm is told, even though the client is muted
    assert (notice.client_name, notice.folder_count) == ("DANONE", 14)
    assert fakes.emails[0].client_id is not None  # client-facing: held back while muted


async def test_unknown_siret_waits_for_company_details(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Unknown to the registry: AWAITING_COMPANY_DETAILS until a person gives the details."""
    fakes = Fakes()
    fakes.registry = lambda attempt: LookupCompanyResult(company=None, attempt=attempt)
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        view = await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        step = next(s for s in view.steps if s.name.value == "company_lookup")
        assert step.state == StepState.waiting and "unknown" in (step.detail or "")
        assert view.waiting_for and "provide_company_details" in view.waiting_for
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details,
            CompanyDetails(name="Boulangerie Martin", city="Lyon"),
        )
        view = await handle.result()
    assert view.status == OnboardingStatus.COMPLETED
    assert fakes.created[0].company_name == "Boulangerie Martin"
    assert fakes.statuses == ["AWAITING_COMPANY_DETAILS", "SETTING_UP", "READY", "COMPLETED"]


async def test_company_details_refused_when_not_waiting(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The update's validator refuses details nobody asked for, and nothing changes."""
    fakes = Fakes()
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input(invitation_mode=InvitationMode.manual))
        await wait_for_status(handle, OnboardingStatus.READY)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                OnboardingWorkflow.provide_company_details, CompanyDetails(name="Late")
            )
        assert "not waiting for company details" in str(refused.value.cause)
        await handle.execute_update(OnboardingWorkflow.send_invitation_now)
        await handle.result()


async def test_rate_limit_storm_is_waited_out(time_skipping_env: WorkflowEnvironment) -> None:
    """Six 429s in a row, each with Retry-After: the lookup waits and then succeeds."""
    fakes = Fakes()

    def storm(attempt: int) -> LookupCompanyResult:
        if attempt <= 6:
            raise ApplicationError(
                "429", type="RegistryRateLimited", next_retry_delay=timedelta(seconds=3)
            )
        return LookupCompanyResult(company=DANONE, attempt=attempt)

    fakes.registry = storm
    async with Run(time_skipping_env, fakes) as run:
        view = await (await run.start(make_input())).result()
    assert view.status == OnboardingStatus.COMPLETED
    assert fakes.registry_calls == 7
    lookup = next(s for s in view.steps if s.name.value == "company_lookup")
    assert lookup.attempts == 7


async def test_registry_down_past_deadline_asks_for_details(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A registry down for longer than the lookup deadline hands over to a person."""
    fakes = Fakes()

    def down(attempt: int) -> LookupCompanyResult:
        raise ApplicationError("503 from registry", type="RegistryUnavailable")

    fakes.registry = down
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        # Jump past the 2-minute lookup deadline (queries alone do not move test time).
        await time_skipping_env.sleep(timedelta(minutes=3))
        view = await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        lookup = next(s for s in view.steps if s.name.value == "company_lookup")
        assert "unreachable" in (lookup.detail or "")
        assert fakes.registry_calls > 1
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details,
            CompanyDetails(name="DANONE", siret="55203253400646"),
        )
        view = await handle.result()
    assert view.status == OnboardingStatus.COMPLETED
    assert fakes.created[0].siret == "55203253400646"


async def test_details_never_given_fails_with_reason(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Nobody answers within the configured time: the onboarding fails and says why."""
    fakes = Fakes()
    fakes.registry = lambda attempt: LookupCompanyResult(company=None, attempt=attempt)
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert "no company details provided within 2 days" in str(failed.value.cause)
    assert fakes.statuses == ["AWAITING_COMPANY_DETAILS", "FAILED"]


async def test_closed_company_waits_for_details(time_skipping_env: WorkflowEnvironment) -> None:
    """A ceased company is not onboarded from registry data: a person must confirm."""
    fakes = Fakes()
    closed = DANONE.model_copy(update={"active": False})
    fakes.registry = lambda attempt: LookupCompanyResult(company=closed, attempt=attempt)
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        view = await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        assert "closed" in (view.waiting_for or "")
        await handle.terminate("test over")


async def test_duplicate_siret_waits_before_and_at_creation(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A SIRET already used (found before lookup, or taken meanwhile) waits for details."""
    fakes = Fakes()
    fakes.siret_available = False
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        view = await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        assert "already used" in (view.waiting_for or "")
        assert fakes.registry_calls == 0  # no lookup for a number we cannot use anyway
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details, CompanyDetails(name="Other entity")
        )
        assert (await handle.result()).status == OnboardingStatus.COMPLETED

    race = Fakes()
    race.duplicate_on_create = 1
    async with Run(time_skipping_env, race) as run:
        handle = await run.start(make_input())
        await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details, CompanyDetails(name="Second try")
        )
        view = await handle.result()
    assert view.status == OnboardingStatus.COMPLETED
    assert race.created[0].company_name == "Second try"


async def test_failing_integration_is_recorded_then_retried(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """One app fails after its retries: recorded, the others connect, setup completes; a
    retry_integration update then connects it and the onboarding completes."""
    fakes = Fakes()
    fakes.integrations = [
        EffectiveIntegration(code="bank", kind=IntegrationKind.automation, settings={}),
        EffectiveIntegration(code="portal", kind=IntegrationKind.redirection, settings={}),
    ]
    fakes.integration_failures = {"bank": 5}  # every attempt of the first round
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        await time_skipping_env.sleep(timedelta(minutes=5))  # past the retries' backoff
        view = await wait_for_status(handle, OnboardingStatus.READY)
        view = await eventually(
            lambda: handle.query(OnboardingWorkflow.status),
            until=lambda v: v.waiting_for,
            what="the onboarding waiting for someone",
            within=5,
        )
        states = {i.code: i.state for i in view.integrations}
        assert states == {"bank": StepState.failed, "portal": StepState.completed}
        assert "503" in (next(i for i in view.integrations if i.code == "bank").last_error or "")
        assert fakes.recorded_failures == ["bank"]
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                OnboardingWorkflow.retry_integration, RetryIntegrationInput(code="portal")
            )
        retried = await handle.execute_update(
            OnboardingWorkflow.retry_integration, RetryIntegrationInput(code="bank")
        )
        assert retried.state == StepState.completed
        view = await handle.result()
    assert view.status == OnboardingStatus.COMPLETED
    assert fakes.connect_calls == {"bank": 6, "portal": 1}


async def test_the_setups_checklist_is_assigned_before_the_invitation(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    fakes.checklist_id = uuid.uuid4()
    async with Run(time_skipping_env, fakes) as run:
        view = await (await run.start(make_input())).result()
    [assigned] = fakes.assigned
    assert assigned.checklist_id == fakes.checklist_id and assigned.client_id == view.client_id
    setup_done = next(s for s in view.steps if s.name.value == "complete_setup")
    assert setup_done.detail is not None
    assert setup_done.detail.endswith("; checklist of 3 item(s) assigned")
    assert view.status == OnboardingStatus.COMPLETED


async def test_a_checklist_gone_from_the_catalog_is_noted_not_fatal(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    fakes.checklist_id = uuid.uuid4()
    fakes.checklist_gone = True
    async with Run(time_skipping_env, fakes) as run:
        view = await (await run.start(make_input())).result()
    assert len(fakes.assigned) == 1  # not retried: a person has to choose another
    missing = f"checklist {fakes.checklist_id} is not in the partner's catalog"
    assert view.notices_not_sent == [f"checklist: ChecklistMissing: {missing}"]
    assert view.status == OnboardingStatus.COMPLETED


async def test_no_checklist_in_the_setup_assigns_nothing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    async with Run(time_skipping_env, fakes) as run:
        await (await run.start(make_input())).result()
    assert fakes.assigned == []


async def test_collaborators_are_told_once_the_client_is_ready(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    fakes = Fakes()
    fakes.user_ids = [uuid.uuid4(), uuid.uuid4()]
    async with Run(time_skipping_env, fakes) as run:
        view = await (await run.start(make_input())).result()
    [notice] = fakes.collaborator_notices
    assert notice.user_ids == fakes.user_ids and notice.onboarding_id == view.onboarding_id
    setup_done = next(s for s in view.steps if s.name.value == "complete_setup")
    assert setup_done.detail == "notifications on; 2 collaborator(s) told"


async def test_a_setup_without_collaborators_tells_nobody(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """No collaborator, no notice: no activity (nor the workflow task after it) for an empty list,
    and the step says so."""
    fakes = Fakes()
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        view = await handle.result()
        scheduled = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            async for e in handle.fetch_history_events()
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
    assert fakes.collaborator_notices == []
    assert "notify_collaborators" not in scheduled
    setup_done = next(s for s in view.steps if s.name.value == "complete_setup")
    assert setup_done.detail == "notifications on; no collaborator to tell"
    assert view.status == OnboardingStatus.COMPLETED


async def test_belgian_client_found_in_kbo_is_created_with_its_company(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """An enterprise number without SIRET is looked up in the KBO (not the French registry):
    the client is created with the KBO company and the normalised number; the step names the
    register and the extract's date."""
    fakes = Fakes()
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(belgian_input())
        await handle.result()
        view = await handle.query(OnboardingWorkflow.status)
    assert fakes.registry_calls == 0
    assert [(c.enterprise_number, c.language) for c in fakes.kbo_calls] == [("0202239951", "fr")]
    (created,) = fakes.created
    assert (created.company_name, created.enterprise_number, created.siret) == (
        "Proximus",
        "0202239951",
        None,
    )
    step = next(s for s in view.steps if s.name == Step.company_lookup)
    assert step.state == StepState.completed
    assert step.detail is not None and "2026-11-27" in step.detail and "KBO/BCE" in step.detail


async def test_belgian_client_stale_or_unknown_in_kbo_waits_with_a_warning(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Unknown to a 60-day-old extract: the onboarding waits for company details and its status
    warns that the extract is stale."""
    fakes = Fakes()
    fakes.kbo = lambda attempt: LookupEnterpriseResult(
        available=True,
        company=None,
        extract_date=date(2026, 10, 1),
        extract_age_days=60,
        stale=True,
        attempt=attempt,
    )
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(belgian_input())
        await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        view = await handle.query(OnboardingWorkflow.status)
        await handle.terminate("test over")
    assert view.warnings == [
        "the KBO/BCE extract is 60 days old: the company data may be out of date"
    ]
    assert view.waiting_for is not None and "unknown to the KBO/BCE" in view.waiting_for


async def test_belgian_company_vat_checked_in_vies_valid_or_unchecked_never_fails(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """VIES's answer is recorded on the company (valid here); VIES unavailable on every attempt
    leaves it unchecked with the reason, after a few attempts, and the onboarding still
    completes; an invalid number is recorded as such and completes too."""
    outcomes = {}
    for valid in (True, None, False):
        fakes = Fakes()
        fakes.vies_valid = valid
        async with Run(time_skipping_env, fakes) as run:
            handle = await run.start(belgian_input())
            await handle.result()
            view = await handle.query(OnboardingWorkflow.status)
        assert view.company is not None and view.company.vat_check is not None
        outcomes[valid] = (view.company.vat_check, fakes.vies_calls, fakes.created[0].company)
    checked, calls, stored = outcomes[True]
    assert (checked.state, checked.vat_number, checked.name, calls) == (
        "valid",
        "BE0202239951",
        "Proximus",
        1,
    )
    assert stored is not None and stored["vat_check"]["state"] == "valid"
    unchecked, calls, _ = outcomes[None]
    assert unchecked.state == "unchecked" and calls == 5
    assert unchecked.reason == "ViesUnavailable: VIES unavailable: MS_UNAVAILABLE"
    assert outcomes[False][0].state == "invalid"


async def test_belgian_client_unknown_in_kbo_created_with_the_details_given_by_hand(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Unknown to the KBO: the details given by hand name the client, and the enterprise number
    they give (a corrected one) is the client's."""
    fakes = Fakes()
    fakes.kbo = lambda attempt: LookupEnterpriseResult(
        available=True, company=None, extract_date=date(2026, 11, 27), attempt=attempt
    )
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(belgian_input())
        await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details,
            CompanyDetails(name="Peeters BV", enterprise_number="BE 0214.596.464"),
        )
        await handle.result()
    (created,) = fakes.created
    assert (created.company_name, created.enterprise_number) == ("Peeters BV", "0214596464")
    assert fakes.vies_calls == 0  # nothing found in the KBO: no VAT number to check


async def test_french_client_vat_number_given_is_checked_in_vies(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A VAT number given with a SIRET is checked in VIES once the registry found the company
    (its country code and number apart); without one, VIES is not asked."""
    fakes = Fakes()
    fakes.vies_valid = False
    async with Run(time_skipping_env, fakes) as run:
        client = make_input().client.model_copy(update={"vat_number": "FR40303265045"})
        handle = await run.start(make_input(client=client))
        await handle.result()
        view = await handle.query(OnboardingWorkflow.status)
        plain = await run.start(make_input())
        await plain.result()
    assert [(a.country_code, a.vat_number) for a in fakes.vies_asked] == [("FR", "40303265045")]
    assert view.company is not None and view.company.vat_check is not None
    assert (view.company.vat_check.vat_number, view.company.vat_check.state) == (
        "FR40303265045",
        "invalid",
    )
