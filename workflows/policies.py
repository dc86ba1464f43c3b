"""Timeouts and retry policies of the onboarding's activities: how long each kind of step may
take and how patiently it is retried (not in the history's commands: changing one needs no patch).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from domain.error_types import ErrorType

# Database work: quick, so a short timeout. PostgreSQL briefly down must delay an onboarding,
# never lose it: about ten minutes of backed-off attempts, then the step waits for a person
# (NEEDS_ATTENTION) instead of spinning unseen. Data errors (text PostgreSQL cannot store, a
# violated constraint) never pass: the worker's interceptor makes them non-retryable DataErrors.
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=15,
    non_retryable_error_types=[
        ErrorType.ClientMissing,
        ErrorType.SetupInvalid,
        ErrorType.DuplicateSiret,
        ErrorType.DuplicateEnterpriseNumber,
        ErrorType.DataError,
    ],
)
# The status projection: patient (a day), since giving up on it would fail the onboarding for a
# bookkeeping write; past that, PostgreSQL has been down long enough for a person to know.
STATUS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=[ErrorType.DataError],
)
STATUS_DEADLINE = timedelta(days=1)
DB_TIMEOUT = timedelta(seconds=30)
# Short PostgreSQL steps run as local activities (patch LOCAL_DB_STEPS): no heartbeat, a few
# statements each, idempotent, so Temporal's conditions for them hold, and each saves a round
# trip through the server's task queue. An attempt runs inside the workflow task, so it is kept
# well under a few seconds' budget; the retry policies above still bound the whole step. Backoffs
# up to LOCAL_RETRY_THRESHOLD are slept in the worker (a PostgreSQL blip); longer ones become
# durable timers, so an outage neither holds the workflow task open nor hides from history.
# The schedule-to-close deadline is a backstop above DB_RETRY's attempts (about ten minutes):
# whichever ends first, the step parks in NEEDS_ATTENTION as a remote one would.
# VIES is often briefly down for one member state: a few patient attempts, then the onboarding
# goes on with the check "unchecked" and the reason.
VIES_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
    non_retryable_error_types=[ErrorType.ViesRejected],
)
VIES_TIMEOUT = timedelta(seconds=20)
VIES_DEADLINE = timedelta(minutes=2)
LOCAL_DB_TIMEOUT = timedelta(seconds=10)
LOCAL_DB_DEADLINE = timedelta(minutes=20)
LOCAL_RETRY_THRESHOLD = timedelta(seconds=2)
# Registry: 429 carries Retry-After (the activity sets next_retry_delay), 5xx and timeouts back
# off; the whole lookup is bounded by the onboarding's company_lookup deadline.
REGISTRY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=[ErrorType.InvalidSiret, ErrorType.RegistryRejected],
)
REGISTRY_TIMEOUT = timedelta(seconds=15)
# Folder trees can be large: a long timeout, and a heartbeat so a dead worker is noticed fast.
FOLDERS_TIMEOUT = timedelta(minutes=30)
FOLDERS_HEARTBEAT = timedelta(seconds=30)
# Integrations: a partner's app gets a few tries; after that a person decides (retry_integration).
INTEGRATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
    non_retryable_error_types=[ErrorType.IntegrationRejected, ErrorType.IntegrationMisconfigured],
)
INTEGRATION_TIMEOUT = timedelta(seconds=60)
# SMTP: 4xx and refused connections are temporary; 5xx comes back as a 'bounced' result instead.
# About three hours of attempts; then the step waits for a person (the invitation) or is recorded
# as not sent (a notice to collaborators).
SMTP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=24,
    non_retryable_error_types=[ErrorType.DataError],
)
SMTP_TIMEOUT = timedelta(seconds=60)
