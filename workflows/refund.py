"""RefundWorkflow: an after-sale refund of a confirmed order, started by an operator.

Money first (the customer's claim), then the returned goods back to stock, then the
customer's notice. Each step is idempotent and must complete: a refund half done is
finished by retrying, never undone. The workflow id ``refund-<order_id>`` keeps a second
request from running beside the first; the provider's key keeps a repeated one from
refunding twice.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from messages.activities import NotifyCustomerInput
    from messages.contract import Notifications, RefundPayments, StockReturns
    from messages.refund import (
        RefundMoneyInput,
        RefundOrderInput,
        RefundOutcome,
        ReturnStockInput,
    )
    from models.notification import NotificationType

# Our workflow code is imported under the sandbox, never passed through: its calls are guarded.
from workflows.saga_steps import MUST_COMPLETE, run_step

__all__ = ["RefundWorkflow"]


@workflow.defn(name="RefundWorkflow")
class RefundWorkflow:
    def __init__(self) -> None:
        self._step = "start"

    @workflow.run
    async def run(self, refund: RefundOrderInput) -> RefundOutcome:
        order = refund.order
        queues = refund.queues
        self._step = "refund"
        money = await run_step(
            RefundPayments.refund_order_payment,
            RefundMoneyInput(
                order_id=order.order_id,
                amount=refund.amount,
                currency=order.currency,
                lines=refund.lines,
                reason=refund.reason,
                actor=refund.actor,
            ),
            queues.payments,
            MUST_COMPLETE,
            summary=f"refund {refund.amount} {order.currency}",
        )
        self._step = "return_stock"
        returned = await run_step(
            StockReturns.return_stock,
            ReturnStockInput(order_id=order.order_id, lines=refund.lines),
            queues.inventory,
            MUST_COMPLETE,
            summary=f"return {sum(line.quantity for line in refund.lines)} items to stock",
        )
        self._step = "notify"
        await run_step(
            Notifications.notify_customer,
            NotifyCustomerInput(
                order=order,
                notification_type=NotificationType.ORDER_REFUNDED,
                reason=refund.reason,
                refund_amount=money.amount,
            ),
            queues.notifications,
            MUST_COMPLETE,
            summary="notify ORDER_REFUNDED",
        )
        self._step = "done"
        return RefundOutcome(
            order_id=order.order_id,
            amount=money.amount,
            currency=money.currency,
            refund_reference=money.refund_reference,
            returned=returned.returned,
        )

    @workflow.query(name="step")
    def step(self) -> str:
        return self._step
