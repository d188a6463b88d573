"""RefundWorkflow: an after-sale refund of a confirmed order, started by an operator.

Money first (the customer's claim), then the returned goods back to stock, then the
customer's notice. Each step is idempotent and must complete: a refund half done is
finished by retrying, never undone. The workflow id ``refund-<order_id>`` keeps a second
request from running beside the first; the provider's key keeps a repeated one from
refunding twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from messages import errors
    from messages.activities import NotifyCustomerInput
    from messages.contract import Notifications, RefundPayments, StockReturns
    from messages.refund import (
        RefundMoneyInput,
        RefundOrderInput,
        RefundOutcome,
        ReturnStockInput,
    )
    from messages.saga import RetryRequest
    from models.notification import NotificationType

# Our workflow code is imported under the sandbox, never passed through: its calls are guarded.
from workflows.patches import REFUND_FINISHES_PATCH
from workflows.saga_steps import (
    MUST_COMPLETE,
    ArgT,
    ResultT,
    StepPolicy,
    outliving_cancellation,
    run_step,
)

__all__ = ["RefundWorkflow"]


@workflow.defn(name="RefundWorkflow")
class RefundWorkflow:
    def __init__(self) -> None:
        self._step = "start"
        self._retry: RetryRequest | None = None
        self._awaiting_retry = False

    @workflow.run
    async def run(self, refund: RefundOrderInput) -> RefundOutcome:
        """The refund, shielded from Temporal's cancellation: money already on its way back
        is never left half-recorded, the goods unreturned or the customer untold, so a
        cancellation request is noted and the refund finishes."""
        return await outliving_cancellation(
            self._refund(refund),
            patch=REFUND_FINISHES_PATCH,
            on_request=lambda: workflow.logger.warning(
                "cancellation request ignored: a refund always finishes"
            ),
        )

    async def _refund(self, refund: RefundOrderInput) -> RefundOutcome:
        order = refund.order
        queues = refund.queues
        self._step = "refund"
        money = await self._finish_step(
            RefundPayments.refund_order_payment,
            RefundMoneyInput(
                order_id=order.order_id,
                amount=refund.amount,
                currency=order.currency,
                lines=refund.lines,
                reason=refund.reason,
                actor=refund.actor,
                actor_role=refund.actor_role,
            ),
            queues.payments,
            MUST_COMPLETE,
            summary=f"refund {refund.amount} {order.currency}",
        )
        self._step = "return_stock"
        returned = await self._finish_step(
            StockReturns.return_stock,
            ReturnStockInput(order_id=order.order_id, lines=refund.lines),
            queues.inventory,
            MUST_COMPLETE,
            summary=f"return {sum(line.quantity for line in refund.lines)} items to stock",
        )
        self._step = "notify"
        await self._finish_step(
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

    async def _finish_step(
        self,
        activity: Callable[[Any, ArgT], Awaitable[ResultT]],
        arg: ArgT,
        queue: str,
        policy: StepPolicy,
        *,
        summary: str,
    ) -> ResultT:
        """A step of a refund that must finish: a failure it did not plan for waits for an
        operator's ``retry`` (the step shows ``<step>:needs_attention``). The planned no
        (the provider or the order's status refuses the refund: nothing moved) fails it."""
        while True:
            try:
                return await run_step(activity, arg, queue, policy, summary=summary)
            except ActivityError as failure:
                if _refused(failure) or not workflow.patched(REFUND_FINISHES_PATCH):
                    raise
            step, self._step = self._step, f"{self._step}:needs_attention"
            self._retry, self._awaiting_retry = None, True
            await workflow.wait_condition(lambda: self._retry is not None)
            self._step, self._awaiting_retry = step, False

    @workflow.signal(name="retry")
    def retry(self, request: RetryRequest | None = None) -> None:
        """An operator's retry of a step that waits for one; ignored otherwise."""
        if self._awaiting_retry and self._retry is None:
            self._retry = request or RetryRequest()

    @workflow.update(name="retry")
    def retry_update(self, request: RetryRequest | None = None) -> str:
        """The same retry, answered: refused (by the validator) unless a step waits."""
        self.retry(request)
        return f"retrying {self._step}"

    @retry_update.validator
    def _validate_retry(self, request: RetryRequest | None = None) -> None:  # noqa: ARG002
        if not self._awaiting_retry:
            raise ApplicationError(
                f"the refund is at {self._step}, not waiting for a retry",
                type=errors.RETRY_REFUSED,
                non_retryable=True,
            )

    @workflow.query(name="step")
    def step(self) -> str:
        return self._step


# Answers that mean the refund was refused before any money moved: asking again gets the
# same answer, so the workflow fails for the operator who asked to see.
_REFUSALS = frozenset({errors.GATEWAY_REFUSED, errors.WRONG_ORDER_STATUS})


def _refused(failure: ActivityError) -> bool:
    cause = failure.cause
    return isinstance(cause, ApplicationError) and cause.type in _REFUSALS
