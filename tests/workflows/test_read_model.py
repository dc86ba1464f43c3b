"""The status read model: Temporal's pending-activity info (protobuf, as describe() returns it)
put on the step it serves, in our words; foreign failure text never shown."""

from __future__ import annotations

import dataclasses
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import ActivityType
from temporalio.api.enums.v1 import PendingActivityState, TimeoutType
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure, TimeoutFailureInfo
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from core import temporal
from core.codec import EncryptionCodec
from core.settings import Environment, Settings
from devstack.smtp_sink import SmtpSink
from domain.onboarding import (
    OnboardingStatus,
    OnboardingView,
    Step,
    StepState,
    StepStatus,
    workflow_id_for,
)
from tests.cli_helpers import ops_env, run_onboarding
from tests.eventually import eventually
from workflows.read_model import decode_pending, explain, stuck_hint

NEXT_TRY = datetime(2026, 11, 29, 22, 14, 5, tzinfo=UTC)
SCHEDULED = PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
STARTED = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED


def _view(running: Step = Step.folders) -> OnboardingView:
    steps = []
    for step in Step:
        status = StepStatus(name=step)
        if list(Step).index(step) < list(Step).index(running):
            status.state, status.attempts = StepState.completed, 1
        elif step == running:
            status.state = StepState.running
        steps.append(status)
    return OnboardingView(
        onboarding_id=uuid.uuid4(), status=OnboardingStatus.SETTING_UP, steps=steps
    )


def _failure(kind: str, message: str) -> Failure:
    return Failure(message=message, application_failure_info=ApplicationFailureInfo(type=kind))


def _pending(
    activity: str,
    *,
    attempt: int,
    failure: Failure | None = None,
    state: PendingActivityState.ValueType = SCHEDULED,
    next_try: datetime | None = NEXT_TRY,
) -> PendingActivityInfo:
    info = PendingActivityInfo(
        activity_id=str(attempt),
        activity_type=ActivityType(name=activity),
        state=state,
        attempt=attempt,
    )
    if failure is not None:
        info.last_failure.CopyFrom(failure)
    if next_try is not None:
        stamp = Timestamp()
        stamp.FromDatetime(next_try)
        info.next_attempt_schedule_time.CopyFrom(stamp)
    return info


def test_retrying_database_step_reads_attempt_reason_and_next_try() -> None:
    """PostgreSQL refusing connections: the folders step says so, with attempt and next try,
    instead of `running, 0 attempts, no error`."""
    pending = _pending(
        "create_folders",
        attempt=7,
        failure=_failure("ConnectionRefusedError", "[Errno 111] Connect call failed"),
    )
    explained = explain(_view(), [pending])
    folders = next(s for s in explained.steps if s.name == Step.folders)
    assert folders.retry is not None
    assert folders.retry.summary == (
        "retrying (attempt 7): PostgreSQL unavailable; next try at 2026-11-29T22:14:05+00:00"
    )
    assert (folders.state, folders.attempts) == (StepState.running, 7)
    assert folders.last_error == "PostgreSQL unavailable"
    assert folders.retry.next_attempt_at == NEXT_TRY
    assert [r.activity for r in explained.retrying] == ["create_folders"]
    untouched = [s for s in explained.steps if s.name != Step.folders]
    assert all(s.retry is None for s in untouched)


def test_our_error_types_keep_their_message() -> None:
    """An SMTP refusal is one of our error types: its message (codes, no text) is the reason."""
    message = "the mail server deferred the message (SMTP 451 4.3.0)"
    pending = _pending("send_invitation", attempt=3, failure=_failure("SmtpDeferred", message))
    explained = explain(_view(Step.invitation), [pending])
    invitation = next(s for s in explained.steps if s.name == Step.invitation)
    assert invitation.retry is not None and invitation.retry.reason == message
    assert invitation.retry.summary.startswith(f"retrying (attempt 3): {message}; next try at ")


def test_foreign_error_text_never_reaches_the_status() -> None:
    """Another error's text may quote personal data or a remote answer: only its type shows."""
    leaky = _failure("ValueError", "jeanne.dupont@example.com is not valid for Dupont SARL")
    leaky.cause.CopyFrom(_failure("KeyError", "jeanne.dupont@example.com"))
    explained = explain(_view(), [_pending("create_folders", attempt=2, failure=leaky)])
    assert explained.retrying[0].reason == "ValueError (see the worker's log)"
    assert "jeanne" not in explained.model_dump_json()


def test_connection_failure_outside_postgresql_names_the_type_not_a_guess() -> None:
    """A refused connection in the registry lookup is not called a PostgreSQL outage."""
    pending = _pending(
        "lookup_company", attempt=4, failure=_failure("ConnectionResetError", "reset by peer")
    )
    [retry] = explain(_view(Step.company_lookup), [pending]).retrying
    assert retry.step == Step.company_lookup
    assert retry.reason == (
        "could not reach the company registry or PostgreSQL (ConnectionResetError)"
    )


def test_first_attempt_running_unhindered_explains_nothing() -> None:
    """Attempt 1 under way, no failure yet: the step stays as the workflow says."""
    pending = _pending("create_folders", attempt=1, state=STARTED, next_try=None)
    view = _view()
    explained = explain(view, [pending])
    assert explained.retrying == []
    assert [s.model_dump(exclude={"retry"}) for s in explained.steps] == [
        s.model_dump() for s in view.steps
    ]


def test_a_retry_under_way_says_trying_now() -> None:
    """Attempt 5 running (no next try scheduled): the last failure and "trying now"."""
    timeout = Failure(
        message="activity Heartbeat timeout",
        timeout_failure_info=TimeoutFailureInfo(timeout_type=TimeoutType.TIMEOUT_TYPE_HEARTBEAT),
    )
    pending = _pending("create_folders", attempt=5, failure=timeout, state=STARTED, next_try=None)
    [retry] = explain(_view(), [pending]).retrying
    assert retry.summary == (
        "retrying (attempt 5): the worker stopped reporting progress (heartbeat); trying now"
    )
    assert retry.state == "started" and retry.next_attempt_at is None


def test_parallel_integrations_put_the_most_attempts_on_the_step() -> None:
    """Two apps retrying at once: the step shows the worse one, `retrying` lists both."""
    unavailable = _failure("IntegrationUnavailable", "Pennylane answered 503")
    pending = [
        _pending("connect_integration", attempt=2, failure=unavailable),
        _pending("connect_integration", attempt=4, failure=unavailable),
    ]
    explained = explain(_view(Step.integrations), pending)
    integrations = next(s for s in explained.steps if s.name == Step.integrations)
    assert integrations.retry is not None and integrations.retry.attempt == 4
    assert [r.attempt for r in explained.retrying] == [4, 2]


def test_status_projection_retries_show_without_a_step() -> None:
    """`record_status` serves no step: it is listed in `retrying`, no step changes."""
    pending = _pending(
        "record_status", attempt=9, failure=_failure("CannotConnectNowError", "starting up")
    )
    explained = explain(_view(), [pending])
    assert [(r.step, r.reason) for r in explained.retrying] == [(None, "PostgreSQL unavailable")]
    assert all(s.retry is None for s in explained.steps)


def test_since_is_carried_into_the_view() -> None:
    since = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert explain(_view(), [], since=since).since == since


async def test_encrypted_failure_messages_are_read_with_the_clients_converter() -> None:
    """Failures travel encrypted: the placeholder message is replaced with the real one by the
    client's own converter; with a key that cannot decrypt, only the type is shown."""
    converter = temporal.data_converter(Settings(env=Environment.test))
    message = "the mail server deferred the message (SMTP 421)"
    failure = Failure()
    await converter.encode_failure(ApplicationError(message, type="SmtpDeferred"), failure)
    assert failure.message != message  # the placeholder: the real text is in the payload
    pending = [_pending("send_invitation", attempt=2, failure=failure)]

    [undecoded] = explain(_view(Step.invitation), pending).retrying
    assert undecoded.reason == "SmtpDeferred (see the worker's log)"
    decoded = await decode_pending(pending, converter)
    [retry] = explain(_view(Step.invitation), decoded).retrying
    assert retry.reason == message
    assert pending[0].last_failure.message != message  # the caller's protobuf is left alone

    stranger = dataclasses.replace(
        converter, payload_codec=EncryptionCodec({"other": os.urandom(32)}, current="other")
    )
    [unreadable] = explain(_view(Step.invitation), await decode_pending(pending, stranger)).retrying
    assert unreadable.reason == "SmtpDeferred (see the worker's log)"


@pytest.mark.parametrize(
    ("status", "state", "expected"),
    [
        ("NEEDS_ATTENTION", None, "a person to fix the cause, then resume"),
        ("AWAITING_COMPANY_DETAILS", None, "company details by hand (company-details)"),
        ("READY", "waiting_manual", "someone to send the invitation (send-invitation)"),
        ("READY", "bounced", "a corrected address, then resend-invitation"),
        ("READY", None, "the director to accept the invitation"),
        ("READY", "scheduled", "the invitation's time (2026-12-01T09:00+00:00)"),
    ],
)
def test_stuck_hint_says_what_the_status_waits_for(
    status: str, state: str | None, expected: str
) -> None:
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert stuck_hint(status, invitation_state=state, invitation_scheduled_at=at) == expected


async def test_a_step_retrying_against_a_deferring_smtp_server_says_so(
    api: httpx.AsyncClient, worker: Worker, smtp_sink: SmtpSink, client: Client, settings: Settings
) -> None:
    """The mail server answers 451 to every message: once the invitation's first attempt has
    failed, GET /v1/onboardings/{id} shows its step retrying (attempt > 1, the SMTP reason, the
    next try), and `onboarding status` says the same line."""
    smtp_sink.handler.scripted_replies += ["451 4.3.0 Try again later"] * 20
    created = await api.post(
        "/v1/onboardings",
        json={
            "client": {
                "first_name": "Lina",
                "last_name": "Peeters",
                "email": f"lina-{uuid.uuid4().hex[:6]}@example.com",
                "language": "fr",
            }
        },
        headers={"Idempotency-Key": f"retrying-{uuid.uuid4()}"},
    )
    assert created.status_code == 202, created.text
    onboarding_id = created.json()["id"]
    try:

        async def status() -> tuple[dict[str, Any], dict[str, Any]]:
            response = await api.get(f"/v1/onboardings/{onboarding_id}")
            assert response.status_code == 200, response.text
            view: dict[str, Any] = response.json()
            return view, next(s for s in view["steps"] if s["name"] == "invitation")

        view, invitation = await eventually(
            status, until=lambda s: s[1]["retry"], what="the invitation step retrying"
        )
        reason = "the mail server deferred the message (SMTP 451 4.3.0)"
        retry = invitation["retry"]
        assert retry, view
        assert retry["attempt"] > 1 and invitation["attempts"] == retry["attempt"]
        assert (retry["activity"], retry["reason"]) == ("send_invitation", reason)
        assert invitation["last_error"] == reason and invitation["state"] == "running"
        next_try = datetime.fromisoformat(retry["next_attempt_at"])
        # SMTP_RETRY's first backoff is 5 s; a busy machine may take a while to answer.
        assert abs(next_try - datetime.now(UTC)) <= timedelta(seconds=10)
        assert retry["summary"] == (
            f"retrying (attempt {retry['attempt']}): {reason}; next try at "
            f"{next_try.isoformat(timespec='seconds')}"
        )
        assert view["status"] == "READY" and view["since"] is not None
        assert [r["activity"] for r in view["retrying"]] == ["send_invitation"]

        ran = await run_onboarding(ops_env(settings), "status", onboarding_id)
        assert ran.code == 0, ran.err
        line = next(li for li in ran.out.splitlines() if li.strip().startswith("invitation"))
        # The command runs a few seconds later: the retries may have gone on meanwhile.
        said = re.search(rf"running +retrying \(attempt (\d+)\): {re.escape(reason)}; ", line)
        assert said and int(said.group(1)) >= retry["attempt"], line
        assert line.endswith("trying now") or "; next try at 20" in line, line
        assert ran.out.startswith(f"onboarding {onboarding_id}: READY since ")
    finally:
        await client.get_workflow_handle(workflow_id_for(uuid.UUID(onboarding_id))).terminate()
