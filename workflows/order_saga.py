"""OrderSaga: reserve → charge → notify/confirm, compensating in reverse on failure or cancel.

Three activity round trips carry an order to CONFIRMED (the record step rides on the
reservation, the confirm step on the confirmation notice), because the Temporal server
is the bottleneck and every extra task costs throughput.

Cancellation is checked at step boundaries: the step in flight always finishes (a charge
half-known is worse than a charge to refund), then the cancel wins. Once confirmation has
begun, a cancel is refused and recorded in the status -- unless the order is parked.

Two waiting states (see models/order_status.py). PAYMENT_PENDING: the charge answered that
the customer must act; the saga waits for ``payment_succeeded``/``payment_failed`` (sent by
the provider's webhook) until ``payment_action_timeout_seconds``, then voids the charge and
ends PAYMENT_FAILED. NEEDS_ATTENTION: a step spent its budget on infrastructure failures or
failed in a way the saga did not plan for; the saga keeps what it holds and waits for an
operator's ``retry`` or ``cancel``, and after ``attention_hold_seconds`` compensates by
itself. Sagas started before these states existed finish as they began (the patch below).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from messages import errors
    from messages.activities import (
        CapturePaymentInput,
        ChargePaymentInput,
        NotifyCustomerInput,
        RefundPaymentInput,
        ReleaseInventoryInput,
        ReserveInventoryInput,
    )
    from messages.contract import Inventory, Notifications, Payments
    from messages.restock import RestockInput, restock_workflow_id
    from messages.saga import (
        CancelOutcome,
        CancelRequest,
        OrderSagaInput,
        PaymentOutcome,
        RetryOutcome,
        RetryRequest,
        SagaResult,
        SagaStatus,
        Step,
    )
    from models.actor import Actor, operator
    from models.notification import NotificationType
    from models.order_status import OrderStatus, is_terminal
    from models.payment import PaymentStatus

# Our workflow code is imported under the sandbox, never passed through: its calls are guarded.
from workflows.patches import (
    AUTHORIZE_CAPTURE_PATCH,
    LEAN_SAGA_PATCH,
    LEAN_SEARCH_ATTRIBUTES_PATCH,
    TEMPORAL_CANCEL_PATCH,
    WAITING_STATES_PATCH,
)
from workflows.restock import RestockWorkflow
from workflows.saga_steps import (
    GIVE_UP,
    MUST_COMPLETE,
    CancelRequestedError,
    PaymentNotCompletedError,
    StepAbandonedError,
    charge_policy,
    classify,
    is_declined,
    outliving_cancellation,
    reserve_policy,
    run_step,
)
from workflows.saga_waits import (
    CUSTOMER_ID,
    NEEDS_ATTENTION_SINCE,
    ORDER_STATUS,
    ORDER_TOTAL,
    SagaWaits,
)

__all__ = [
    "AUTHORIZE_CAPTURE_PATCH",
    "CUSTOMER_ID",
    "LEAN_SAGA_PATCH",
    "NEEDS_ATTENTION_SINCE",
    "ORDER_STATUS",
    "ORDER_TOTAL",
    "WAITING_STATES_PATCH",
    "OrderSaga",
]


@workflow.defn(name="OrderSaga")
class OrderSaga(SagaWaits):
    @workflow.init
    def __init__(self, saga: OrderSagaInput) -> None:
        self._order = saga.order
        self._queues = saga.queues
        self._policy = saga.policy
        self._state = SagaStatus(order_id=saga.order.order_id, status=OrderStatus.PENDING)
        self._confirming = False
        self._compensating = False
        self._step = Step.START
        # The step whose failure (or cancel) the compensations answer: their stated reason.
        self._failed_step = Step.START
        self._waiting_states = False
        self._lean = False
        # The last step is conclude_order (lean-saga); before it, notify_customer.
        self._concludes = False
        # What visibility shows: the start's OrderStatus, then each upsert (see _advance).
        self._visible_status = OrderStatus.PENDING
        self._attention_visible = False
        # False once the provider said no money was taken: the refund step is skipped.
        self._charge_may_exist = True
        self._retry: RetryRequest | None = None
        # The provider's reports in arrival order, each event once: (report, succeeded).
        self._outcomes: list[tuple[PaymentOutcome, bool]] = []
        # Who asked for the cancel that won; None: whatever ends the order, the saga decided.
        self._cancel_actor: Actor | None = None

    @workflow.run
    async def run(self, saga: OrderSagaInput) -> SagaResult:
        """The saga, shielded from Temporal's cancellation: a cancellation request (the Web
        UI's Request Cancellation, ``temporal workflow cancel``) is an order cancel, decided
        like the ``cancel`` signal. Before confirmation has begun it compensates in full and
        ends CANCELLED; after, it is refused and the order confirms; a compensation already
        under way finishes and its outcome stands. The workflow then completes with that
        business outcome, never CANCELED halfway."""
        return await outliving_cancellation(
            self._saga(saga),
            patch=TEMPORAL_CANCEL_PATCH,
            on_request=lambda: self.cancel(
                CancelRequest(reason="cancellation requested through Temporal")
            ),
        )

    async def _saga(self, saga: OrderSagaInput) -> SagaResult:
        order = saga.order
        # The lean patch came after the waiting states and implies them: a new saga records
        # one marker (each marker is also an SDK upsert of TemporalChangeVersion). Sagas of
        # the builds from d608859 to 13815ef carry lean-search-attributes instead: lean too,
        # but their last step is notify_customer. Asked only when lean-saga is absent, so a
        # new saga never records it (ids are never renamed: workflows/patches.py).
        self._concludes = workflow.patched(LEAN_SAGA_PATCH)
        self._lean = self._concludes or workflow.patched(LEAN_SEARCH_ATTRIBUTES_PATCH)
        self._waiting_states = self._lean or workflow.patched(WAITING_STATES_PATCH)
        two_phase = saga.payment_flow == "authorize_capture" and workflow.patched(
            AUTHORIZE_CAPTURE_PATCH
        )
        compensations: list[Callable[[], Awaitable[None]]] = []
        try:
            self._raise_if_cancel_requested()

            # Registered before the step: a reservation whose reply was lost is still released.
            compensations.append(self._release)
            reservation = await self._attempt(
                Step.RESERVE,
                lambda: run_step(
                    Inventory.reserve_inventory,
                    ReserveInventoryInput(order=order),
                    self._queues.inventory,
                    reserve_policy(self._policy),
                    summary=self._summary(
                        f"reserve {sum(line.quantity for line in order.lines)} items"
                    ),
                ),
            )
            self._advance(OrderStatus.RESERVED, "reserved")
            for restock in reservation.restocks_needed:
                await _start_restock(restock.model_copy(update={"queues": self._queues}))
            self._raise_if_cancel_requested()

            compensations.append(self._refund)
            payment = await self._attempt(
                Step.CHARGE,
                lambda: run_step(
                    Payments.charge_payment,
                    ChargePaymentInput(
                        order_id=order.order_id,
                        customer_id=order.customer_id,
                        amount=order.total,
                        currency=order.currency,
                        payment=order.payment,
                        capture=not two_phase,
                    ),
                    self._queues.payments,
                    charge_policy(self._policy),
                    summary=self._summary(f"charge {order.total} {order.currency}"),
                ),
            )
            if self._waiting_states and payment.status is PaymentStatus.PENDING:
                await self._await_payment(payment, capture=not two_phase)
            elif two_phase:
                self._state.completed_steps.append("authorized")
            else:
                self._advance(OrderStatus.PAID, "charged")
            self._raise_if_cancel_requested()

            self._confirming = True
            if two_phase:
                await self._attempt(
                    Step.CAPTURE,
                    lambda: run_step(
                        Payments.capture_payment,
                        CapturePaymentInput(order_id=order.order_id),
                        self._queues.payments,
                        charge_policy(self._policy),
                        summary=self._summary("capture the authorised payment"),
                    ),
                )
                self._advance(OrderStatus.PAID, "captured")
            await self._attempt(
                Step.CONFIRM,
                lambda: self._notify(NotificationType.ORDER_CONFIRMED, OrderStatus.CONFIRMED, None),
            )
            return SagaResult(order_id=order.order_id, status=self._state.status)
        except (
            ActivityError,
            CancelRequestedError,
            StepAbandonedError,
            PaymentNotCompletedError,
            asyncio.CancelledError,
        ) as failure:
            if (
                not self._waiting_states
                and self._step is Step.CONFIRM
                and isinstance(failure, ActivityError)
            ):
                # Before the waiting states: only a bug gets here, and undoing a paid order
                # would hide it. Fail for an operator (new sagas park instead).
                raise
            outcome, notice, reason = self._classify(failure)
            self._state.last_error = reason
            self._compensating = True
            self._failed_step = self._step
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
        await self._attempt(Step.NOTIFY, lambda: self._notify(notice, outcome, reason))

    def _classify(self, failure: BaseException) -> tuple[OrderStatus, NotificationType, str]:
        if isinstance(failure, CancelRequestedError | asyncio.CancelledError):
            reason = self._state.cancel_reason or "cancelled by an operator"
            return OrderStatus.CANCELLED, NotificationType.ORDER_CANCELLED, reason
        if isinstance(failure, PaymentNotCompletedError):
            return OrderStatus.PAYMENT_FAILED, NotificationType.PAYMENT_FAILED, failure.reason
        if isinstance(failure, StepAbandonedError):
            status, notice = GIVE_UP[failure.step]
            return status, notice, f"no operator decision within the hold: {failure.reason}"
        assert isinstance(failure, ActivityError)
        if is_declined(failure):
            # The provider said no: no charge exists, so new sagas skip the refund step.
            self._charge_may_exist = not self._waiting_states
        return classify(self._step, failure)

    async def _release(self) -> None:
        why = self._failed_step
        await self._attempt(
            Step.RELEASE,
            lambda: run_step(
                Inventory.release_inventory,
                ReleaseInventoryInput(order_id=self._order.order_id, reason=why.value),
                self._queues.inventory,
                MUST_COMPLETE,
                summary=self._summary("release the reserved stock"),
            ),
        )
        self._state.completed_steps.append("released")

    async def _refund(self) -> None:
        if not self._charge_may_exist:
            return
        why = self._failed_step
        result = await self._attempt(
            Step.REFUND,
            lambda: run_step(
                Payments.refund_payment,
                RefundPaymentInput(order_id=self._order.order_id, reason=why.value),
                self._queues.payments,
                MUST_COMPLETE,
                summary=self._summary("refund or void the payment"),
            ),
        )
        self._state.completed_steps.append(result.outcome.lower())

    async def _notify(
        self, notice: NotificationType, outcome: OrderStatus, reason: str | None
    ) -> None:
        await run_step(
            Notifications.conclude_order if self._concludes else Notifications.notify_customer,
            NotifyCustomerInput(
                order=self._order,
                notification_type=notice,
                conclude_status=outcome,
                reason=reason,
                actor=self._cancel_actor if outcome is OrderStatus.CANCELLED else None,
            ),
            self._queues.notifications,
            MUST_COMPLETE,
            summary=self._summary(f"notify {notice} and record {outcome}"),
        )
        self._advance(outcome, f"notified:{notice}")

    def _cancel_refusal(self) -> str | None:
        if self._compensating:
            # Already being undone: a second cancel changes nothing, so it is not accepted
            # as if it did; the outcome the compensation was started for stands.
            return f"the order is already being compensated (after {self._failed_step})"
        parked = self._state.status == OrderStatus.NEEDS_ATTENTION
        if parked:
            return None
        if self._confirming or self._state.status == OrderStatus.CONFIRMED:
            return "the order is already being confirmed"
        if is_terminal(self._state.status):
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

    @workflow.signal(name="retry")
    def retry(self, request: RetryRequest | None = None) -> None:
        """An operator's retry of a parked order (no input needed); ignored otherwise."""
        if self._state.awaiting_decision and self._retry is None:
            self._retry = request or RetryRequest()

    @workflow.update(name="retry")
    def retry_update(self, request: RetryRequest | None = None) -> RetryOutcome:
        """The same retry, answered: refused (by the validator) unless the order is parked."""
        self.retry(request)
        return RetryOutcome(
            accepted=True, status=self._state.status, step=self._step, detail="retrying"
        )

    @retry_update.validator
    def _validate_retry(self, request: RetryRequest | None = None) -> None:  # noqa: ARG002
        if not self._state.awaiting_decision:
            # NEEDS_ATTENTION while a cancel compensates is not waiting for a retry either.
            waits = "compensating" if self._compensating else "not waiting for a retry"
            raise ApplicationError(
                f"the order is {self._state.status}, {waits}: nothing to retry",
                type=errors.RETRY_REFUSED,
                non_retryable=True,
            )

    @workflow.signal(name="payment_succeeded")
    def payment_succeeded(self, outcome: PaymentOutcome) -> None:
        """The provider's webhook: the customer completed the payment."""
        self._report(outcome, succeeded=True)

    @workflow.signal(name="payment_failed")
    def payment_failed(self, outcome: PaymentOutcome) -> None:
        """The provider's webhook: the payment failed or was abandoned by the customer."""
        self._report(outcome, succeeded=False)

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
