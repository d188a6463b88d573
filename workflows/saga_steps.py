"""How the saga runs a step: its retry policy and budget, and what a failure of it means.

A step's failure is one of three things:

- a business answer (out of stock, an unknown product, a declined card): final, the saga
  compensates and ends REJECTED or PAYMENT_FAILED as before;
- the step's retry budget spent on infrastructure failures (a provider outage, database
  trouble), or an error the saga did not plan for (a status the domain refuses, a bug):
  the order is parked in NEEDS_ATTENTION for an operator;
- a parked order the operator did not answer within the hold: it ends as the step would
  have had it failed (``GIVE_UP``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from messages import errors
    from messages.saga import SagaPolicy, Step
    from models.notification import NotificationType
    from models.order_status import OrderStatus

ArgT = TypeVar("ArgT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)
T = TypeVar("T")

# Longer causes are cut: a failure's message lands in histories, the status query and the
# UI, and Temporal refuses oversized failures instead of showing them.
MAX_REASON = 300


@dataclass(frozen=True)
class StepPolicy:
    start_to_close: timedelta
    retry: RetryPolicy
    # None: keep retrying until it succeeds (compensations and notices must happen).
    schedule_to_close: timedelta | None = None


def reserve_policy(policy: SagaPolicy) -> StepPolicy:
    """A database blip is retried quickly; past the budget an operator decides."""
    return StepPolicy(
        start_to_close=timedelta(seconds=10),
        schedule_to_close=timedelta(seconds=policy.reserve_budget_seconds),
        retry=RetryPolicy(
            initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)
        ),
    )


def charge_policy(policy: SagaPolicy) -> StepPolicy:
    """Gateway outages are common and short: the breaker fails fast and this backoff waits."""
    return StepPolicy(
        start_to_close=timedelta(seconds=15),
        schedule_to_close=timedelta(seconds=policy.charge_budget_seconds),
        retry=RetryPolicy(
            initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=30)
        ),
    )


MUST_COMPLETE = StepPolicy(
    start_to_close=timedelta(seconds=30),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
)
# Recording a waiting decision on the read model: the saga's own state is the truth, so
# a database still down does not keep the saga from waiting for the operator.
BEST_EFFORT = StepPolicy(
    start_to_close=timedelta(seconds=10),
    schedule_to_close=timedelta(minutes=1),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10)
    ),
)


async def run_step(
    activity: Callable[[Any, ArgT], Awaitable[ResultT]],
    arg: ArgT,
    queue: str,
    policy: StepPolicy,
    *,
    summary: str | None = None,
) -> ResultT:
    """Run a contract activity (``Payments.charge_payment``…): its name and result type come
    from the contract, its input type is checked against the call."""
    result: ResultT = await workflow.execute_activity_method(
        activity,
        arg,
        task_queue=queue,
        start_to_close_timeout=policy.start_to_close,
        schedule_to_close_timeout=policy.schedule_to_close,
        retry_policy=policy.retry,
        summary=summary,
    )
    return result


class CancelRequestedError(Exception):
    pass


class StepAbandonedError(Exception):
    """A parked step's hold ran out without an operator's answer."""

    def __init__(self, step: Step, reason: str) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason


class PaymentNotCompletedError(Exception):
    """The provider reported the payment failed, or the customer never completed it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_FINAL = {
    Step.RESERVE: frozenset({errors.OUT_OF_STOCK, errors.UNKNOWN_PRODUCT}),
    Step.CHARGE: frozenset({errors.PAYMENT_DECLINED}),
}

# Where a parked step ends when nobody answers: as if the step had failed.
GIVE_UP: dict[Step, tuple[OrderStatus, NotificationType]] = {
    Step.RESERVE: (OrderStatus.REJECTED, NotificationType.ORDER_REJECTED),
    Step.CHARGE: (OrderStatus.PAYMENT_FAILED, NotificationType.PAYMENT_FAILED),
    Step.PAYMENT_OUTCOME: (OrderStatus.PAYMENT_FAILED, NotificationType.PAYMENT_FAILED),
    Step.CAPTURE: (OrderStatus.PAYMENT_FAILED, NotificationType.PAYMENT_FAILED),
    Step.CONFIRM: (OrderStatus.CANCELLED, NotificationType.ORDER_CANCELLED),
}


def is_final(step: Step, failure: ActivityError) -> bool:
    """A business answer the saga planned for, which no retry can change."""
    cause = failure.cause
    return isinstance(cause, ApplicationError) and cause.type in _FINAL.get(step, frozenset())


def classify(step: Step, failure: ActivityError) -> tuple[OrderStatus, NotificationType, str]:
    """How a failed step ends the order: the business answer, or the cause as given up on."""
    cause = failure.cause
    if step is Step.RESERVE:
        if is_final(step, failure) and isinstance(cause, ApplicationError):
            return OrderStatus.REJECTED, NotificationType.ORDER_REJECTED, cause.message
        return (
            OrderStatus.REJECTED,
            NotificationType.ORDER_REJECTED,
            f"inventory unavailable: {describe(cause)}",
        )
    if is_declined(failure) and isinstance(cause, ApplicationError):
        return OrderStatus.PAYMENT_FAILED, NotificationType.PAYMENT_FAILED, cause.message
    return (
        OrderStatus.PAYMENT_FAILED,
        NotificationType.PAYMENT_FAILED,
        f"payment unavailable: {describe(cause)}",
    )


def is_declined(failure: BaseException) -> bool:
    cause = failure.cause if isinstance(failure, ActivityError) else None
    return isinstance(cause, ApplicationError) and cause.type == errors.PAYMENT_DECLINED


def describe(failure: BaseException | None) -> str:
    """A short, readable cause: the error type and its first words, never a traceback."""
    cause = failure.cause if isinstance(failure, ActivityError) else failure
    if isinstance(cause, TimeoutError):
        kind = cause.type.name.lower() if cause.type else "timeout"
        # The last attempt's own failure says why the budget ran out.
        inner = f" (last: {describe(cause.cause)})" if cause.cause is not None else ""
        return _short(f"gave up after {kind}{inner}")
    if isinstance(cause, ApplicationError):
        return _short(f"{cause.type}: {cause.message}" if cause.type else cause.message)
    return _short(str(cause) if cause is not None else "unknown error")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


async def outliving_cancellation(
    work: Coroutine[Any, Any, T], *, patch: str, on_request: Callable[[], None]
) -> T:
    """Run ``work`` shielded from Temporal's cancellation: each request calls
    ``on_request`` (which decides what it means for the business) and ``work`` goes on.

    Workflows that met a request before this rule had the request cancel the step in
    flight; ``patch`` is checked only when a request arrives, so their histories replay
    that way and only new ones that met a request carry its marker.
    """
    task = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                # Ended as the request came: its outcome stands.
                return task.result()
            if not workflow.patched(patch):
                task.cancel()
                return await task
            on_request()
