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
itself. Sagas started before these states existed finish as they began (``SagaPatches``
in workflows/saga_state.py decides, once, which paths a saga's history holds it to).
"""

from __future__ import annotations

import asyncio
import functools

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from messages import errors
    from messages.activities import CapturePaymentInput, ChargePaymentInput, ReserveInventoryInput
    from messages.contract import Inventory, Payments
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
    from models.notification import NotificationType
    from models.order_status import OrderStatus
    from models.payment import PaymentStatus

# Our workflow code is imported under the sandbox, never passed through: its calls are guarded.
from workflows.compensations import Compensation, conclude, ending, finish, refund, release
from workflows.patches import TEMPORAL_CANCEL_PATCH
from workflows.restock import start_restock
from workflows.saga_state import SagaPatches, SagaState
from workflows.saga_steps import (
    CancelRequestedError,
    PaymentNotCompletedError,
    StepAbandonedError,
    charge_policy,
    outliving_cancellation,
    reserve_policy,
    run_step,
)
from workflows.saga_waits import attempt, await_payment

__all__ = ["OrderSaga"]


@workflow.defn(name="OrderSaga")
class OrderSaga:
    @workflow.init
    def __init__(self, saga: OrderSagaInput) -> None:
        self._state = SagaState.start(saga)

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
        order, state = saga.order, self._state
        state.patches = SagaPatches.decide(saga)
        two_phase = state.patches.two_phase
        compensations: list[Compensation] = []
        try:
            state.raise_if_cancel_requested()

            # Registered before the step: a reservation whose reply was lost is still released.
            compensations.append(functools.partial(release, state))
            reservation = await attempt(
                state,
                Step.RESERVE,
                lambda: run_step(
                    Inventory.reserve_inventory,
                    ReserveInventoryInput(order=order),
                    state.queues.inventory,
                    reserve_policy(state.policy),
                    summary=state.summary(
                        f"reserve {sum(line.quantity for line in order.lines)} items"
                    ),
                ),
            )
            state.advance(OrderStatus.RESERVED, "reserved")
            for restock in reservation.restocks_needed:
                await start_restock(restock.model_copy(update={"queues": state.queues}))
            state.raise_if_cancel_requested()

            compensations.append(functools.partial(refund, state))
            payment = await attempt(
                state,
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
                    state.queues.payments,
                    charge_policy(state.policy),
                    summary=state.summary(f"charge {order.total} {order.currency}"),
                ),
            )
            if state.patches.waiting_states and payment.status is PaymentStatus.PENDING:
                await await_payment(state, payment, capture=not two_phase)
            elif two_phase:
                state.view.completed_steps.append("authorized")
            else:
                state.advance(OrderStatus.PAID, "charged")
            state.raise_if_cancel_requested()

            state.confirming = True
            if two_phase:
                await attempt(
                    state,
                    Step.CAPTURE,
                    lambda: run_step(
                        Payments.capture_payment,
                        CapturePaymentInput(order_id=order.order_id),
                        state.queues.payments,
                        charge_policy(state.policy),
                        summary=state.summary("capture the authorised payment"),
                    ),
                )
                state.advance(OrderStatus.PAID, "captured")
            await attempt(
                state,
                Step.CONFIRM,
                lambda: conclude(
                    state, NotificationType.ORDER_CONFIRMED, OrderStatus.CONFIRMED, None
                ),
            )
            return SagaResult(order_id=order.order_id, status=state.view.status)
        except (
            ActivityError,
            CancelRequestedError,
            StepAbandonedError,
            PaymentNotCompletedError,
            asyncio.CancelledError,
        ) as failure:
            if (
                not state.patches.waiting_states
                and state.step is Step.CONFIRM
                and isinstance(failure, ActivityError)
            ):
                # Before the waiting states: only a bug gets here, and undoing a paid order
                # would hide it. Fail for an operator (new sagas park instead).
                raise
            outcome, notice, reason = ending(state, failure)
            state.view.last_error = reason
            state.compensating = True
            state.failed_step = state.step
            # Compensations run even when Temporal cancelled the workflow: shield them.
            await asyncio.shield(finish(state, compensations, outcome, notice, reason))
            if isinstance(failure, asyncio.CancelledError):
                raise
            return SagaResult(order_id=order.order_id, status=state.view.status, reason=reason)

    @workflow.signal(name="cancel")
    def cancel(self, request: CancelRequest | None = None) -> None:
        """Fire-and-forget cancel, as the CLI sends it; a refusal is recorded in the status."""
        self._state.request_cancel(request or CancelRequest())

    @workflow.update(name="request_cancel")
    def request_cancel(self, request: CancelRequest) -> CancelOutcome:
        """Cancel with an answer: the API turns a refusal into 409."""
        return self._state.request_cancel(request)

    @request_cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:  # noqa: ARG002 - SDK signature
        refusal = self._state.cancel_refusal()
        if refusal is not None:
            raise ApplicationError(refusal, type=errors.CANCEL_REFUSED, non_retryable=True)

    @workflow.signal(name="retry")
    def retry(self, request: RetryRequest | None = None) -> None:
        """An operator's retry of a parked order (no input needed); ignored otherwise."""
        if self._state.view.awaiting_decision and self._state.retry is None:
            self._state.retry = request or RetryRequest()

    @workflow.update(name="retry")
    def retry_update(self, request: RetryRequest | None = None) -> RetryOutcome:
        """The same retry, answered: refused (by the validator) unless the order is parked."""
        self.retry(request)
        view = self._state.view
        return RetryOutcome(
            accepted=True, status=view.status, step=self._state.step, detail="retrying"
        )

    @retry_update.validator
    def _validate_retry(self, request: RetryRequest | None = None) -> None:  # noqa: ARG002
        if not self._state.view.awaiting_decision:
            # NEEDS_ATTENTION while a cancel compensates is not waiting for a retry either.
            waits = "compensating" if self._state.compensating else "not waiting for a retry"
            raise ApplicationError(
                f"the order is {self._state.view.status}, {waits}: nothing to retry",
                type=errors.RETRY_REFUSED,
                non_retryable=True,
            )

    @workflow.signal(name="payment_succeeded")
    def payment_succeeded(self, outcome: PaymentOutcome) -> None:
        """The provider's webhook: the customer completed the payment."""
        self._state.report(outcome, succeeded=True)

    @workflow.signal(name="payment_failed")
    def payment_failed(self, outcome: PaymentOutcome) -> None:
        """The provider's webhook: the payment failed or was abandoned by the customer."""
        self._state.report(outcome, succeeded=False)

    @workflow.query(name="status")
    def status(self) -> SagaStatus:
        return self._state.view
