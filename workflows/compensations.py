"""How the saga ends: what a failure means for the order, the compensations run in
reverse, and the closing step that records the outcome and sends the notice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from messages.activities import (
        NotifyCustomerInput,
        RefundPaymentInput,
        ReleaseInventoryInput,
    )
    from messages.contract import Inventory, Notifications, Payments
    from messages.saga import Step
    from models.notification import NotificationType
    from models.order_status import OrderStatus

# Our workflow code is imported under the sandbox, never passed through: its calls are guarded.
from workflows.saga_state import SagaState
from workflows.saga_steps import (
    GIVE_UP,
    MUST_COMPLETE,
    CancelRequestedError,
    PaymentNotCompletedError,
    StepAbandonedError,
    classify,
    is_declined,
    run_step,
)
from workflows.saga_waits import attempt

__all__ = ["Compensation", "conclude", "ending", "finish", "refund", "release"]

Compensation = Callable[[], Awaitable[None]]


def ending(state: SagaState, failure: BaseException) -> tuple[OrderStatus, NotificationType, str]:
    """How ``failure`` ends the order: its status, the notice, and the reason stated."""
    if isinstance(failure, CancelRequestedError | asyncio.CancelledError):
        reason = state.view.cancel_reason or "cancelled by an operator"
        return OrderStatus.CANCELLED, NotificationType.ORDER_CANCELLED, reason
    if isinstance(failure, PaymentNotCompletedError):
        return OrderStatus.PAYMENT_FAILED, NotificationType.PAYMENT_FAILED, failure.reason
    if isinstance(failure, StepAbandonedError):
        status, notice = GIVE_UP[failure.step]
        return status, notice, f"no operator decision within the hold: {failure.reason}"
    assert isinstance(failure, ActivityError)
    if is_declined(failure):
        # The provider said no: no charge exists, so new sagas skip the refund step.
        state.charge_may_exist = not state.patches.waiting_states
    return classify(state.step, failure)


async def finish(
    state: SagaState,
    compensations: list[Compensation],
    outcome: OrderStatus,
    notice: NotificationType,
    reason: str,
) -> None:
    for compensate in reversed(compensations):
        await compensate()
    await attempt(state, Step.NOTIFY, lambda: conclude(state, notice, outcome, reason))


async def release(state: SagaState) -> None:
    why = state.failed_step
    await attempt(
        state,
        Step.RELEASE,
        lambda: run_step(
            Inventory.release_inventory,
            ReleaseInventoryInput(order_id=state.order.order_id, reason=why.value),
            state.queues.inventory,
            MUST_COMPLETE,
            summary=state.summary("release the reserved stock"),
        ),
    )
    state.view.completed_steps.append("released")


async def refund(state: SagaState) -> None:
    if not state.charge_may_exist:
        return
    why = state.failed_step
    result = await attempt(
        state,
        Step.REFUND,
        lambda: run_step(
            Payments.refund_payment,
            RefundPaymentInput(order_id=state.order.order_id, reason=why.value),
            state.queues.payments,
            MUST_COMPLETE,
            summary=state.summary("refund or void the payment"),
        ),
    )
    state.view.completed_steps.append(result.outcome.lower())


async def conclude(
    state: SagaState, notice: NotificationType, outcome: OrderStatus, reason: str | None
) -> None:
    """The last step: record the outcome, then send the notice (one activity)."""
    await run_step(
        Notifications.conclude_order if state.patches.concludes else Notifications.notify_customer,
        NotifyCustomerInput(
            order=state.order,
            notification_type=notice,
            conclude_status=outcome,
            reason=reason,
            actor=state.cancel_actor if outcome is OrderStatus.CANCELLED else None,
        ),
        state.queues.notifications,
        MUST_COMPLETE,
        summary=state.summary(f"notify {notice} and record {outcome}"),
    )
    state.advance(outcome, f"notified:{notice}")
