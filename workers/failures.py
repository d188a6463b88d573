"""Activity failures as Temporal records them: a short message and a type, never a
traceback or a chained database error.

An exception that is not ours (a driver error carrying its SQL and parameters, a bug's
traceback) would otherwise travel whole into the history, where a large one is replaced
by "Failure exceeds size limit" and the cause is lost. Its full traceback goes to the
worker's log instead; the history gets the type and the first words, and the retry policy
treats it as before (retryable, unless it was a non-retryable ApplicationError).
"""

from __future__ import annotations

import logging
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, TemporalError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

__all__ = ["MAX_MESSAGE", "ShortFailures", "short"]

log = logging.getLogger(__name__)

MAX_MESSAGE = 300


def short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


class ShortFailures(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ShortActivityFailures(next)


class _ShortActivityFailures(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except ApplicationError as failure:
            if len(failure.message) <= MAX_MESSAGE and failure.__cause__ is None:
                raise
            raise ApplicationError(
                short(failure.message),
                *failure.details,
                type=failure.type,
                non_retryable=failure.non_retryable,
                next_retry_delay=failure.next_retry_delay,
            ) from None
        except TemporalError:
            raise  # cancellation and the SDK's own signals pass as they are
        except Exception as failure:
            kind = type(failure).__name__
            log.exception("activity %s failed with %s", activity.info().activity_type, kind)
            raise ApplicationError(short(f"{kind}: {failure}"), type=kind) from None
