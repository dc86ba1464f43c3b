"""How the onboarding reads an activity's failure: in our words or by type alone (never a
remote text or personal data), whether it outlasted its retries (an outage: wait for a person) or
is final (bad data, a business rule), and a local activity's failure in a remote one's shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as ActivityTimeout

from domain.error_types import is_ours


def cause(exc: BaseException) -> str:
    """What went wrong, as the status may show it: our words, or the error's type alone."""
    inner = innermost(exc)
    if isinstance(inner, ApplicationError) and inner.type is not None and not is_ours(inner.type):
        return f"{inner.type} (see the worker's log)"
    return str(inner)


def outlasted_retries(exc: ActivityError) -> bool:
    """The activity kept failing in a way that may pass (an outage) until its policy gave up.

    Not a non-retryable error (bad data, a business rule): those fail the onboarding with their
    reason, since no waiting can fix them.
    """
    return exc.retry_state in (RetryState.MAXIMUM_ATTEMPTS_REACHED, RetryState.TIMEOUT)


def innermost(exc: BaseException) -> BaseException:
    while isinstance(exc, ActivityError) and exc.cause is not None:
        exc = exc.cause
    return exc


def as_activity_error(
    exc: BaseException, method: Callable[..., Any], policy: RetryPolicy
) -> ActivityError:
    """A local activity's failure in the shape of a remote one's, so one set of rules (park
    after the retries, fail on bad data) serves both.

    The SDK (1.35) hands the workflow a failed local activity's last error bare: no
    ActivityError around it, no retry state (sdk-core issue 449); a deadline reached during a
    timer backoff comes wrapped, but with retry state CANCEL_REQUESTED. What stopped the retries
    is read from the error instead, the way the server would have decided: a timeout is the
    deadline; a non-retryable error (flagged, or of a type the policy lists) is final; any other
    error only ends the retries once the policy's attempts are spent.
    """
    exc = innermost(exc)
    if isinstance(exc, ActivityTimeout):
        state = RetryState.TIMEOUT
    elif not isinstance(exc, ApplicationError) or (
        exc.non_retryable or exc.type in (policy.non_retryable_error_types or ())
    ):
        state = RetryState.NON_RETRYABLE_FAILURE
    else:
        state = RetryState.MAXIMUM_ATTEMPTS_REACHED
    return ActivityError(
        "local activity failed",
        scheduled_event_id=0,
        started_event_id=0,
        identity="",
        activity_type=getattr(method, "__name__", "local activity"),
        activity_id="",
        retry_state=state,
    )


def error_type(exc: BaseException) -> str | None:
    exc = innermost(exc)
    return exc.type if isinstance(exc, ApplicationError) else None
