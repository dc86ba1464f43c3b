"""Worker interceptors: rules that hold for every activity, whoever wrote it.

`DataErrorsAreFinal`: an activity that hits a PostgreSQL data error (see store/errors.py) fails
at once with a non-retryable `DataError` in our words, instead of being retried on its policy
until someone notices. Done here rather than in each activity so that no activity, present or
future, can forget it; the original exception is not chained, since its text quotes the data.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from domain.error_types import ErrorType
from store.errors import DATA_ERRORS, data_error_reason

DATA_ERROR_TYPE = ErrorType.DataError


class DataErrorsAreFinal(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _FinalDataErrors(next)


class _FinalDataErrors(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except DATA_ERRORS as exc:
            reason = data_error_reason(exc) or "PostgreSQL refused the data"
            activity.logger.warning(
                "data error: not retried", extra={"reason": reason, "error_type": DATA_ERROR_TYPE}
            )
            raise ApplicationError(reason, type=DATA_ERROR_TYPE, non_retryable=True) from None
