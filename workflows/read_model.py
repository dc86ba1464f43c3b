"""The onboarding's status read model, the answer that explains itself: the workflow's own view
of its steps, merged with what Temporal knows of the activity it is waiting on (attempt, last
failure, next retry time) and with the database projection's `since`.

The workflow's `status` query cannot say any of this while an activity retries: a retry happens
on the server, and the workflow only hears of the activity again when it completes or gives up.
`describe()` lists the pending activities with that information; `explain` puts it on the step
the activity serves, in the status's words ("retrying (attempt 7): PostgreSQL unavailable; next
try at ..."). Used by GET /v1/onboardings/{id} and `onboarding status`.

A failure's text is shown only for our own error types (domain/error_types.py, whose messages are
written to hold no personal data and no remote text); any other error is named by its type
only, exactly as the workflow does (workflows/failures.py, `cause`). Pure apart from
`decode_pending`, which needs the client's data converter to read failure messages the payload
codec encrypted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field
from temporalio.api.enums.v1 import PendingActivityState, TimeoutType
from temporalio.api.failure.v1 import Failure
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.converter import DataConverter
from temporalio.exceptions import FailureError

from activities.client_setup import ClientSetupActivities
from activities.clients import ClientActivities
from activities.company_checks import CompanyActivities
from activities.folders import FolderActivities
from activities.integrations import IntegrationActivities
from activities.invitations import CollaboratorActivities, InvitationActivities
from activities.registry import RegistryActivities
from activities.setup import SetupActivities
from domain.error_types import is_ours
from domain.onboarding import (
    InvitationState,
    OnboardingStatus,
    OnboardingView,
    Step,
    StepStatus,
)

_POSTGRESQL = "PostgreSQL"

# Activity type -> (the step it serves, what it talks to). Names from the methods themselves, so
# a renamed activity cannot silently drop out of the status. `record_status` serves no step: it
# writes the status projection between two steps (None).
_ACTIVITIES: dict[str, tuple[Step | None, str]] = {
    SetupActivities.resolve_setup.__name__: (Step.resolve_setup, _POSTGRESQL),
    CompanyActivities.check_siret_available.__name__: (Step.company_lookup, _POSTGRESQL),
    RegistryActivities.lookup_company.__name__: (Step.company_lookup, "the company registry"),
    ClientActivities.create_client.__name__: (Step.create_client, _POSTGRESQL),
    FolderActivities.create_folders.__name__: (Step.folders, _POSTGRESQL),
    ClientSetupActivities.assign_collaborators_and_subscription.__name__: (
        Step.collaborators_and_subscription,
        _POSTGRESQL,
    ),
    IntegrationActivities.connect_integration.__name__: (Step.integrations, "the partner's app"),
    IntegrationActivities.record_integration_failure.__name__: (Step.integrations, _POSTGRESQL),
    ClientActivities.complete_setup.__name__: (Step.complete_setup, _POSTGRESQL),
    ClientActivities.set_notifications.__name__: (Step.complete_setup, _POSTGRESQL),
    # The collaborators' notice is sent as setup completes; the workflow reports it there.
    CollaboratorActivities.notify_collaborators.__name__: (Step.complete_setup, "the mail server"),
    InvitationActivities.send_invitation.__name__: (Step.invitation, "the mail server"),
    ClientActivities.record_invitation.__name__: (Step.invitation, _POSTGRESQL),
    ClientActivities.record_status.__name__: (None, _POSTGRESQL),
}

# Exceptions Temporal converted from Python (their type is the class name) that mean "could not
# reach the other side": safe to name in our words, since the type alone is read, never the text.
_ASYNCPG_OUTAGES = frozenset(
    {
        "AdminShutdownError",
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "PostgresConnectionError",
        "TooManyConnectionsError",
    }
)
_CONNECTION_FAILURES = frozenset(
    {
        "ConnectionError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "ConnectionAbortedError",
        "OSError",
        "TimeoutError",
        "gaierror",
    }
)

_TIMEOUTS = {
    TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE: "an attempt outlasted its timeout",
    TimeoutType.TIMEOUT_TYPE_HEARTBEAT: "the worker stopped reporting progress (heartbeat)",
    TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START: "no worker picked the activity up in time",
    TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE: "the activity's deadline passed",
}

_STATES = {
    PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED: "scheduled",
    PendingActivityState.PENDING_ACTIVITY_STATE_STARTED: "started",
    PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED: "cancel_requested",
    PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED: "paused",
    PendingActivityState.PENDING_ACTIVITY_STATE_PAUSE_REQUESTED: "pause_requested",
}

# What the codec-encoding failure converter leaves as the message when the real one is encrypted.
_ENCODED_MESSAGE = "Encoded failure"


class PendingRetry(BaseModel):
    """An activity Temporal is running or retrying for the onboarding, as the status shows it."""

    activity: str = Field(description="The activity type")
    step: Step | None = Field(description="The step it serves (none: the status projection)")
    attempt: int = Field(description="The attempt running or next to run (1 = the first)")
    state: str = Field(description="scheduled (waiting for its next try), started, paused, ...")
    reason: str | None = Field(
        description="The last attempt's failure in our words (an error of another kind: its "
        "type only, the worker's log has the rest)"
    )
    next_attempt_at: datetime | None = Field(description="When the next try is due")
    summary: str = Field(description='e.g. "retrying (attempt 7): PostgreSQL unavailable; ..."')


class ExplainedStep(StepStatus):
    retry: PendingRetry | None = Field(
        default=None, description="Set while the step's activity fails and Temporal retries it"
    )


class ExplainedView(OnboardingView):
    """GET /v1/onboardings/{id}: the workflow's view, explained."""

    steps: list[ExplainedStep]  # type: ignore[assignment]  # a subclass of the base's item
    since: datetime | None = Field(
        default=None, description="When the status last changed (the database projection)"
    )
    retrying: list[PendingRetry] = Field(
        default_factory=list,
        description="Activities failing and retried by Temporal now, with their next try",
    )
    source: Literal["workflow", "projection"] = Field(
        default="workflow",
        description="workflow: the workflow's own answer; projection: the database's (status "
        "and since only, no steps), given when the workflow cannot answer",
    )
    workflow_task_failing: bool = Field(
        default=False,
        description="The workflow's task fails and is retried by Temporal: the onboarding "
        "cannot move until the cause (workflow_problem) is fixed",
    )
    workflow_problem: str | None = Field(
        default=None, description="Why the workflow cannot move or answer, in our words"
    )


def reason(failure: Failure, *, resource: str) -> str | None:
    """A failed attempt in our words: our own error types' messages, anything else by kind."""
    if failure.HasField("timeout_failure_info"):
        return _TIMEOUTS.get(failure.timeout_failure_info.timeout_type, "timed out")
    if not failure.HasField("application_failure_info"):
        return None if not failure.ByteSize() else "failed (see the worker's log)"
    kind = failure.application_failure_info.type
    message = failure.message
    if is_ours(kind):
        readable = message and not (
            message == _ENCODED_MESSAGE and failure.HasField("encoded_attributes")
        )
        return message if readable else f"{kind} (see the worker's log)"
    if kind in _ASYNCPG_OUTAGES:
        return f"{_POSTGRESQL} unavailable"
    if kind in _CONNECTION_FAILURES:
        if resource == _POSTGRESQL:
            return f"{_POSTGRESQL} unavailable"
        return f"could not reach {resource} or PostgreSQL ({kind})"
    return f"{kind or 'an error'} (see the worker's log)"


def pending_retry(info: PendingActivityInfo) -> PendingRetry | None:
    """One pending activity as the status shows it; None while it runs its first attempt
    unhindered (nothing to explain: the step says running)."""
    state = _STATES.get(info.state, "unknown")
    failed = info.HasField("last_failure")
    if info.attempt <= 1 and not failed and state not in ("paused", "pause_requested"):
        return None
    step, resource = _ACTIVITIES.get(info.activity_type.name, (None, "another service"))
    why = reason(info.last_failure, resource=resource) if failed else None
    next_at = (
        info.next_attempt_schedule_time.ToDatetime(tzinfo=UTC)
        if info.HasField("next_attempt_schedule_time")
        else None
    )
    if state in ("paused", "pause_requested"):
        head = f"paused (attempt {info.attempt})"
    elif info.attempt > 1:
        head = f"retrying (attempt {info.attempt})"
    else:
        head = "failed once (attempt 1)"
    summary = head + (f": {why}" if why else "")
    if next_at is not None:
        summary += f"; next try at {next_at.isoformat(timespec='seconds')}"
    elif state == "started":
        summary += "; trying now"
    return PendingRetry(
        activity=info.activity_type.name,
        step=step,
        attempt=info.attempt,
        state=state,
        reason=why,
        next_attempt_at=next_at,
        summary=summary,
    )


def explain(
    view: OnboardingView,
    pending: Iterable[PendingActivityInfo],
    *,
    since: datetime | None = None,
) -> ExplainedView:
    """The workflow's view with every retrying activity put on its step, and `since`.

    A step served by several activities at once (integrations in parallel) shows the one with
    the most attempts; `retrying` lists them all.
    """
    retries = sorted(
        (r for r in map(pending_retry, pending) if r is not None),
        key=lambda r: r.attempt,
        reverse=True,
    )
    steps: list[ExplainedStep] = []
    for step in view.steps:
        explained = ExplainedStep(**step.model_dump())
        retry = next((r for r in retries if r.step == step.name), None)
        if retry is not None:
            explained.retry = retry
            # The view counts attempts of finished calls only: the one in progress is Temporal's.
            explained.attempts = max(explained.attempts, retry.attempt)
            explained.last_error = retry.reason or explained.last_error
        steps.append(explained)
    fields = view.model_dump(exclude={"steps"})
    return ExplainedView(**fields, steps=steps, since=since, retrying=retries)


async def decode_pending(
    pending: Sequence[PendingActivityInfo], converter: DataConverter
) -> list[PendingActivityInfo]:
    """Copies of the pending activities whose last failures' messages are readable again.

    Failures travel encrypted (core/temporal.py's codec): the message Temporal holds is a
    placeholder. Decoded here with the client's own converter, so the same keys serve; a message
    that cannot be decoded keeps its placeholder, and `reason` then shows the type only.
    """
    decoded: list[PendingActivityInfo] = []
    for info in pending:
        copy = PendingActivityInfo()
        copy.CopyFrom(info)
        if copy.HasField("last_failure"):
            try:
                error = await converter.decode_failure(copy.last_failure)
            except Exception:  # a key no longer configured: the type still tells something
                error = None
            if isinstance(error, FailureError):
                copy.last_failure.message = error.message
                copy.last_failure.ClearField("encoded_attributes")
        decoded.append(copy)
    return decoded


def stuck_hint(
    status: str, *, invitation_state: str | None, invitation_scheduled_at: datetime | None
) -> str:
    """What an onboarding in `status` is most likely waiting for, from the database projection
    alone (the stuck list reads no workflow); `onboarding status ID` says it exactly."""
    if status != OnboardingStatus.READY:
        return _STATUS_HINTS.get(status, "see onboarding status ID")
    if invitation_state == InvitationState.scheduled and invitation_scheduled_at is not None:
        return f"the invitation's time ({invitation_scheduled_at.isoformat(timespec='minutes')})"
    return _INVITATION_HINTS.get(invitation_state or "", "the director to accept the invitation")


_STATUS_HINTS: dict[str, str] = {
    OnboardingStatus.SETTING_UP: "a step running or retrying (onboarding status ID says why)",
    OnboardingStatus.AWAITING_COMPANY_DETAILS: "company details by hand (company-details)",
    OnboardingStatus.NEEDS_ATTENTION: "a person to fix the cause, then resume",
    OnboardingStatus.WAITING_FOR_UNMUTE: "the client's notifications to be switched on",
}
# READY: setup is done; what is left is the invitation, as projected on the client row (None
# until the workflow reports a state the clients list cannot derive: sent, or not yet sent).
_INVITATION_HINTS: dict[str, str] = {
    InvitationState.waiting_manual: "someone to send the invitation (send-invitation)",
    InvitationState.cancelled: "the invitation was cancelled (send-invitation, reschedule)",
    InvitationState.bounced: "a corrected address, then resend-invitation",
    InvitationState.muted: "the client's notifications to be switched on",
    InvitationState.expired: "resend-invitation (the invitation expired)",
    InvitationState.accepted: "a retry of the failed integrations",
}
