"""Escalations under the time-skipping server: the onboarding's creator is reminded of what
waits for them (company details the registry could not give, failed integrations not retried)
half-way, or at the configured point, and told at the deadline; nothing when it is done in time."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from activities.escalations import EscalationKind
from activities.registry import LookupCompanyResult
from domain.onboarding import CompanyDetails, OnboardingStatus, RetryIntegrationInput, Timeouts
from domain.setup import EffectiveIntegration, IntegrationKind
from tests.workflow_helpers import Fakes, Run, make_input, wait_for_status
from workflows.onboarding import OnboardingWorkflow


def _unknown_company(fakes: Fakes) -> None:
    fakes.registry = lambda attempt: LookupCompanyResult(company=None, attempt=attempt)


def _at(sent: datetime, start: datetime) -> timedelta:
    """When, after the start, rounded to the minute (the server schedules within seconds)."""
    return timedelta(minutes=round((sent - start).total_seconds() / 60))


async def test_details_never_given_remind_half_way_then_notice_before_failing(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    fakes = Fakes()
    _unknown_company(fakes)
    start = await env.get_current_time()
    async with Run(env, fakes) as run:
        handle = await run.start(make_input())  # company details: 2 days
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    kinds = [(e.kind, _at(when, start)) for e, when in fakes.escalations]
    assert kinds == [
        (EscalationKind.details_reminder, timedelta(days=1)),
        (EscalationKind.details_deadline, timedelta(days=2)),
    ]
    reminder = fakes.escalations[0][0]
    assert reminder.siret == "55203253400646" and reminder.integrations == []
    assert _at(reminder.deadline, start) == timedelta(days=2)
    assert fakes.statuses == ["AWAITING_COMPANY_DETAILS", "FAILED"]


async def test_details_given_after_the_reminder_no_notice(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """At the configured point (6 hours), then the details come: no deadline notice."""
    env = time_skipping_env
    fakes = Fakes()
    _unknown_company(fakes)
    timeouts = make_input().timeouts.model_copy(
        update={"details_reminder_after": timedelta(hours=6)}
    )
    start = await env.get_current_time()
    async with Run(env, fakes) as run:
        handle = await run.start(make_input(timeouts=timeouts))
        await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        await env.sleep(timedelta(hours=12))
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details, CompanyDetails(name="Rappel SARL")
        )
        view = await handle.result()
    assert [(e.kind, _at(w, start)) for e, w in fakes.escalations] == [
        (EscalationKind.details_reminder, timedelta(hours=6))
    ]
    assert view.status == OnboardingStatus.COMPLETED


async def test_given_in_time_nobody_is_bothered(time_skipping_env: WorkflowEnvironment) -> None:
    fakes = Fakes()
    _unknown_company(fakes)
    async with Run(time_skipping_env, fakes) as run:
        handle = await run.start(make_input())
        await wait_for_status(handle, OnboardingStatus.AWAITING_COMPANY_DETAILS)
        await handle.execute_update(
            OnboardingWorkflow.provide_company_details, CompanyDetails(name="À temps SARL")
        )
        await handle.result()
    assert fakes.escalations == []


async def test_failed_integration_not_retried_reminder_then_notice(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    fakes = Fakes()
    fakes.integrations = [
        EffectiveIntegration(code="bank", kind=IntegrationKind.automation, settings={})
    ]
    fakes.integration_failures = {"bank": 100}
    timeouts = Timeouts(
        company_lookup=timedelta(minutes=2),
        company_details=timedelta(days=2),
        integration_retry_window=timedelta(days=4),
    )
    async with Run(env, fakes) as run:
        handle = await run.start(make_input(timeouts=timeouts))
        view = await handle.result()
    kinds = [e.kind for e, _ in fakes.escalations]
    assert kinds == [EscalationKind.integration_reminder, EscalationKind.integration_left_failed]
    assert all(e.integrations == ["bank"] for e, _ in fakes.escalations)
    gap = fakes.escalations[1][1] - fakes.escalations[0][1]
    assert timedelta(days=2) - timedelta(minutes=1) <= gap <= timedelta(days=2, minutes=1)
    assert view.status == OnboardingStatus.COMPLETED  # the run ends; the integration stays failed


async def test_integration_retried_after_the_reminder_no_notice(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    fakes = Fakes()
    fakes.integrations = [
        EffectiveIntegration(code="bank", kind=IntegrationKind.automation, settings={})
    ]
    fakes.integration_failures = {"bank": 5}
    async with Run(env, fakes) as run:
        handle = await run.start(make_input())  # retry window: 1 day
        for _ in range(20):
            if fakes.escalations:
                break
            await env.sleep(timedelta(hours=3))  # the retries' backoffs, then half the window
        await handle.execute_update(
            OnboardingWorkflow.retry_integration, RetryIntegrationInput(code="bank")
        )
        view = await handle.result()
    assert [e.kind for e, _ in fakes.escalations] == [EscalationKind.integration_reminder]
    assert view.status == OnboardingStatus.COMPLETED
