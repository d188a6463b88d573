"""OrderSaga: reserve → charge → notify/confirm, compensating in reverse on failure or cancel.

Three activity round trips carry an order to CONFIRMED (the record step rides on the
reservation, the confirm step on the confirmation notice), because the Temporal server
is the bottleneck and every extra task costs throughput.

Cancellation is checked at step boundaries: the step in flight always finishes (a charge
half-known is worse than a charge to refund), then the cancel wins. Once confirmation has
begun, a cancel is refused and recorded in the status.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    TimeoutError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from messages import errors
    from messages.activities import (
        CapturePaymentInput,
        ChargePaymentInput,
        NotificationResult,
        NotifyCustomerInput,
        PaymentResult,
        RefundPaymentInput,
        RefundResult,
        ReleaseInventoryInput,
        ReleaseResult,
        ReservationResult,
        ReserveInventoryInput,
    )
    from messages.restock import RestockInput, restock_workflow_id
    from messages.saga import (
        CancelOutcome,
        CancelRequest,
        OrderSagaInput,
        SagaResult,
        SagaStatus,
    )
    from models.actor import Actor, operator
    from models.notification import NotificationType
    from models.order_status import OrderStatus, is_terminal, transition
    from workflows.restock import RestockWorkflow

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
_REJECTIONS = frozenset({errors.OUT_OF_STOCK, errors.UNKNOWN_PRODUCT})
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")

# Gate for the authorize/capture flow: histories recorded before it replay the old path.
AUTHORIZE_CAPTURE_PATCH = "authorize-capture-flow"


@dataclass(frozen=True)
class StepPolicy:
    start_to_close: timedelta
    retry: RetryPolicy
    # None: keep retrying until it succeeds (compensations and notices must happen).
    schedule_to_close: timedelta | None = None


# A database blip is retried quickly; after two minutes of no inventory service the
# customer is better served by a clear rejection than by an order hanging.
RESERVE = StepPolicy(
    start_to_close=timedelta(seconds=10),
    schedule_to_close=timedelta(minutes=2),
    retry=RetryPolicy(
        initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)
    ),
)
# Gateway outages are common and short: the breaker fails fast and this backoff waits.
# Ten minutes bounds how long stock stays held for an order that cannot be paid.
CHARGE = StepPolicy(
    start_to_close=timedelta(seconds=15),
    schedule_to_close=timedelta(minutes=10),
    retry=RetryPolicy(
        initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=30)
    ),
)
MUST_COMPLETE = StepPolicy(
    start_to_close=timedelta(seconds=30),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)),
)

ResultT = TypeVar("ResultT", bound=BaseModel)


async def _step(
    activity: str, arg: BaseModel, queue: str, result_type: type[ResultT], policy: StepPolicy
) -> ResultT:
    result: ResultT = await workflow.execute_activity(
        activity,
        arg,
        task_queue=queue,
        result_type=result_type,
        start_to_close_timeout=policy.start_to_close,
        schedule_to_close_timeout=policy.schedule_to_close,
        retry_policy=policy.retry,
    )
    return result


class _CancelRequestedError(Exception):
    pass


@workflow.defn(name="OrderSaga")
class OrderSaga:
    @workflow.init
    def __init__(self, saga: OrderSagaInput) -> None:
        self._order = saga.order
        self._queues = saga.queues
        self._state = SagaStatus(order_id=saga.order.order_id, status=OrderStatus.PENDING)
        self._confirming = False
        self._step = "start"
        # Who asked for the cancel that won; None: whatever ends the order, the saga decided.
        self._cancel_actor: Actor | None = None

    @workflow.run
    async def run(self, saga: OrderSagaInput) -> SagaResult:
        order = saga.order
        two_phase = saga.payment_flow == "authorize_capture" and workflow.patched(
            AUTHORIZE_CAPTURE_PATCH
        )
        compensations: list[Callable[[], Awaitable[None]]] = []
        try:
            self._raise_if_cancel_requested()

            # Registered before the step: a reservation whose reply was lost is still released.
            compensations.append(self._release)
            self._step = "reserve"
            reservation = await _step(
                "reserve_inventory",
                ReserveInventoryInput(order=order),
                self._queues.inventory,
                ReservationResult,
                RESERVE,
            )
            self._advance(OrderStatus.RESERVED, "reserved")
            for restock in reservation.restocks_needed:
                await _start_restock(restock.model_copy(update={"queues": self._queues}))
            self._raise_if_cancel_requested()

            compensations.append(self._refund)
            self._step = "charge"
            await _step(
                "charge_payment",
                ChargePaymentInput(
                    order_id=order.order_id,
                    customer_id=order.customer_id,
                    amount=order.total,
                    currency=order.currency,
                    payment=order.payment,
                    capture=not two_phase,
                ),
                self._queues.payments,
                PaymentResult,
                CHARGE,
            )
            if two_phase:
                self._state.completed_steps.append("authorized")
            else:
                self._advance(OrderStatus.PAID, "charged")
            self._raise_if_cancel_requested()

            self._confirming = True
            if two_phase:
                self._step = "capture"
                await _step(
                    "capture_payment",
                    CapturePaymentInput(order_id=order.order_id),
                    self._queues.payments,
                    PaymentResult,
                    CHARGE,
                )
                self._advance(OrderStatus.PAID, "captured")
            self._step = "confirm"
            await self._notify(NotificationType.ORDER_CONFIRMED, OrderStatus.CONFIRMED, None)
            return SagaResult(order_id=order.order_id, status=self._state.status)
        except (ActivityError, _CancelRequestedError, asyncio.CancelledError) as failure:
            if self._step == "confirm" and isinstance(failure, ActivityError):
                # The money is taken and the notice retries until it succeeds: only a bug
                # gets here, and undoing a paid order would hide it. Fail for an operator.
                raise
            outcome, notice, reason = self._classify(failure)
            self._state.last_error = reason
            # Compensations run even when Temporal cancelled the workflow: shield them.
            await asyncio.shield(self._finish(compensations, outcome, notice, reason))
            if isinstance(failure, asyncio.CancelledError):
                raise
            return SagaResult(order_id=order.order_id, status=self._state.status, reason=reason)

    async def _finish(
        self,
        compensations: list[Callable[[], Awaitable[None]]],
        outcome: OrderStatus,
        notice: NotificationType,
        reason: str,
    ) -> None:
        for compensate in reversed(compensations):
            await compensate()
        await self._notify(notice, outcome, reason)

    def _classify(self, failure: BaseException) -> tuple[OrderStatus, NotificationType, str]:
        if isinstance(failure, _CancelRequestedError | asyncio.CancelledError):
            reason = self._state.cancel_reason or "cancelled by an operator"
            return OrderStatus.CANCELLED, NotificationType.ORDER_CANCELLED, reason
        cause = failure.cause if isinstance(failure, ActivityError) else None
        if self._step == "reserve":
            if isinstance(cause, ApplicationError) and cause.type in _REJECTIONS:
                return OrderStatus.REJECTED, NotificationType.ORDER_REJECTED, cause.message
            return (
                OrderStatus.REJECTED,
                NotificationType.ORDER_REJECTED,
                f"inventory unavailable: {_describe(cause)}",
            )
        if isinstance(cause, ApplicationError) and cause.type == errors.PAYMENT_DECLINED:
            return OrderStatus.PAYMENT_FAILED, NotificationType.PAYMENT_FAILED, cause.message
        return (
            OrderStatus.PAYMENT_FAILED,
            NotificationType.PAYMENT_FAILED,
            f"payment unavailable: {_describe(cause)}",
        )

    async def _release(self) -> None:
        await _step(
            "release_inventory",
            ReleaseInventoryInput(order_id=self._order.order_id, reason=self._step),
            self._queues.inventory,
            ReleaseResult,
            MUST_COMPLETE,
        )
        self._state.completed_steps.append("released")

    async def _refund(self) -> None:
        result = await _step(
            "refund_payment",
            RefundPaymentInput(order_id=self._order.order_id, reason=self._step),
            self._queues.payments,
            RefundResult,
            MUST_COMPLETE,
        )
        self._state.completed_steps.append(result.outcome.lower())

    async def _notify(
        self, notice: NotificationType, outcome: OrderStatus, reason: str | None
    ) -> None:
        await _step(
            "notify_customer",
            NotifyCustomerInput(
                order=self._order,
                notification_type=notice,
                conclude_status=outcome,
                reason=reason,
                actor=self._cancel_actor if outcome is OrderStatus.CANCELLED else None,
            ),
            self._queues.notifications,
            NotificationResult,
            MUST_COMPLETE,
        )
        self._advance(outcome, f"notified:{notice}")

    def _advance(self, target: OrderStatus, step: str) -> None:
        self._state.status = transition(OrderStatus(self._state.status), target)
        self._state.completed_steps.append(step)
        workflow.upsert_search_attributes([ORDER_STATUS.value_set(self._state.status)])

    def _raise_if_cancel_requested(self) -> None:
        if self._state.cancel_reason is not None:
            raise _CancelRequestedError(self._state.cancel_reason)

    def _cancel_refusal(self) -> str | None:
        if self._confirming or self._state.status == OrderStatus.CONFIRMED:
            return "the order is already being confirmed"
        if is_terminal(OrderStatus(self._state.status)):
            return f"the order is already {self._state.status}"
        return None

    def _request_cancel(self, request: CancelRequest) -> CancelOutcome:
        refusal = self._cancel_refusal()
        if refusal is not None:
            self._state.cancel_refused = refusal
            return CancelOutcome(accepted=False, status=self._state.status, detail=refusal)
        if self._state.cancel_reason is None:
            self._state.cancel_reason = request.reason
            self._cancel_actor = request.actor or operator(request.operator)
        return CancelOutcome(accepted=True, status=self._state.status, detail="cancelling")

    @workflow.signal(name="cancel")
    def cancel(self, request: CancelRequest | None = None) -> None:
        """Fire-and-forget cancel, as the CLI sends it; a refusal is recorded in the status."""
        self._request_cancel(request or CancelRequest())

    @workflow.update(name="request_cancel")
    def request_cancel(self, request: CancelRequest) -> CancelOutcome:
        """Cancel with an answer: the API turns a refusal into 409."""
        return self._request_cancel(request)

    @request_cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:  # noqa: ARG002 - SDK signature
        refusal = self._cancel_refusal()
        if refusal is not None:
            raise ApplicationError(refusal, type=errors.CANCEL_REFUSED, non_retryable=True)

    @workflow.query(name="status")
    def status(self) -> SagaStatus:
        return self._state


async def _start_restock(restock: RestockInput) -> None:
    """Hand low stock to its own workflow, which outlives this order (ABANDON)."""
    # A restock for this product already under way is enough: one purchase order per product.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await workflow.start_child_workflow(
            RestockWorkflow.run,
            restock,
            id=restock_workflow_id(restock.low_stock.product_id),
            task_queue=restock.queues.orders,
            parent_close_policy=ParentClosePolicy.ABANDON,
        )


def _describe(cause: BaseException | None) -> str:
    if isinstance(cause, TimeoutError):
        return f"gave up after {cause.type.name.lower() if cause.type else 'timeout'}"
    return str(cause) if cause is not None else "unknown error"
