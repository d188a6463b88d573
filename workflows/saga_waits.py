"""The saga's waiting states: a parked step (NEEDS_ATTENTION) and a payment waiting for the
customer (PAYMENT_PENDING). A base of OrderSaga, which holds the handlers that wake them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from messages.activities import (
        PaymentResult,
        RecordOrderStatusInput,
        RecordPaymentOutcomeInput,
    )
    from messages.contract import OrderStatusRecords, Payments
    from messages.queues import TaskQueues
    from messages.saga import (
        OrderSnapshot,
        PaymentOutcome,
        RetryRequest,
        SagaPolicy,
        SagaStatus,
        Step,
    )
    from models.order_status import OrderStatus, is_terminal, is_waiting, transition

# Our workflow code is imported under the sandbox, never passed through: its calls are guarded.
from workflows.saga_steps import (
    BEST_EFFORT,
    MUST_COMPLETE,
    CancelRequestedError,
    PaymentNotCompletedError,
    StepAbandonedError,
    StepPolicy,
    describe,
    is_final,
    run_step,
)

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ORDER_TOTAL = SearchAttributeKey.for_float("OrderTotal")
NEEDS_ATTENTION_SINCE = SearchAttributeKey.for_datetime("NeedsAttentionSince")

T = TypeVar("T")
_RETRY, _CANCEL, _HOLD_OVER = "retry", "cancel", "hold-over"


class SagaWaits:
    _order: OrderSnapshot
    _queues: TaskQueues
    _policy: SagaPolicy
    _state: SagaStatus
    _step: Step
    _compensating: bool
    _waiting_states: bool
    _lean: bool
    _visible_status: OrderStatus
    _attention_visible: bool
    _charge_may_exist: bool
    _retry: RetryRequest | None
    _outcomes: list[tuple[PaymentOutcome, bool]]

    async def _attempt(self, step: Step, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``step``; on a failure the saga did not plan for, park and await a decision."""
        self._step = step
        if self._waiting_states:
            self._state.step = step
            workflow.set_current_details(f"**{self._state.status}**, step: {step}")
        while True:
            try:
                return await call()
            except ActivityError as failure:
                if not self._waiting_states or is_final(step, failure):
                    raise
                decision = await self._park(step, describe(failure))
            if decision == _CANCEL:
                raise CancelRequestedError(self._state.cancel_reason)
            if decision == _HOLD_OVER:
                raise StepAbandonedError(step, self._state.last_error or step)

    async def _park(self, step: Step, reason: str) -> str:
        """NEEDS_ATTENTION until an operator's retry or cancel, or the hold runs out."""
        self._retry = None
        left = self._state.status
        # Already parked: a compensation after a cancel from NEEDS_ATTENTION failed too.
        if left is not OrderStatus.NEEDS_ATTENTION:
            self._state.status = transition(left, OrderStatus.NEEDS_ATTENTION)
        self._state.resume_status = left
        self._state.last_error = reason
        since = workflow.now()
        self._state.needs_attention_since = since
        workflow.upsert_search_attributes(
            [
                ORDER_STATUS.value_set(OrderStatus.NEEDS_ATTENTION),
                NEEDS_ATTENTION_SINCE.value_set(since),
            ]
        )
        self._visible_status = OrderStatus.NEEDS_ATTENTION
        self._attention_visible = True
        workflow.set_current_details(
            f"**NEEDS_ATTENTION** at step `{step}` since {since:%Y-%m-%d %H:%M} UTC\n\n"
            f"Last error: {reason}\n\nSend the signal or update `retry` to run the step "
            "again, or `cancel` to compensate."
        )
        # A failed compensation waits for a retry only: nothing else can undo what it holds.
        hold = None if self._compensating else self._policy.attention_hold_seconds
        self._state.needs_attention_until = (
            None if hold is None else since + timedelta(seconds=hold)
        )
        # Operators see NEEDS_ATTENTION from here on: a decision sent while the park is
        # still being recorded counts (the record may take its whole budget).
        self._state.awaiting_decision = True
        try:
            await self._record_status(OrderStatus.NEEDS_ATTENTION, step, reason=reason)
            await workflow.wait_condition(
                lambda: self._retry is not None or self._cancel_waiting(), timeout=hold
            )
        except TimeoutError:
            return _HOLD_OVER
        finally:
            self._state.awaiting_decision = False
            self._state.needs_attention_until = None
        if self._cancel_waiting():
            return _CANCEL
        retry = self._retry or RetryRequest()
        if left is not OrderStatus.NEEDS_ATTENTION:
            self._state.status = transition(OrderStatus.NEEDS_ATTENTION, left)
        self._state.needs_attention_since = None
        self._state.retries += 1
        self._state.completed_steps.append(f"retried:{step}")
        workflow.upsert_search_attributes(
            [ORDER_STATUS.value_set(left), NEEDS_ATTENTION_SINCE.value_unset()]
        )
        self._visible_status = left
        self._attention_visible = False
        workflow.set_current_details(f"**{left}**, step: {step} (retried by {retry.operator})")
        # The operator chose to go on: the read model must follow before the step runs
        # again (its activities refuse an order the row still shows parked), so this record
        # is retried until it lands, not given up on like the park's.
        await self._record_status(
            left, step, actor=retry.operator, note=retry.note, policy=MUST_COMPLETE
        )
        return _RETRY

    def _cancel_waiting(self) -> bool:
        return self._state.cancel_reason is not None and not self._compensating

    async def _record_status(
        self,
        status: OrderStatus,
        step: Step,
        *,
        reason: str | None = None,
        actor: str = "system",
        note: str = "",
        policy: StepPolicy = BEST_EFFORT,
    ) -> None:
        with contextlib.suppress(ActivityError):
            # The read model may lag (the database may be what is down); the saga's own
            # state, its query and search attributes stay the truth meanwhile.
            await run_step(
                OrderStatusRecords.record_order_status,
                RecordOrderStatusInput(
                    order=self._order,
                    status=status,
                    step=step,
                    reason=reason,
                    actor=actor,
                    note=note,
                ),
                self._queues.notifications,
                policy,
                summary=f"record {status} at {step}",
            )

    async def _await_payment(self, payment: PaymentResult, *, capture: bool) -> None:
        """PAYMENT_PENDING until the provider reports, the customer times out, or a cancel."""
        self._advance(OrderStatus.PAYMENT_PENDING, "payment_pending")
        self._state.next_action = payment.next_action
        workflow.set_current_details(
            "**PAYMENT_PENDING**: waiting for the customer's action "
            f"(timeout {self._policy.payment_action_timeout_seconds:.0f}s)"
        )
        try:
            await workflow.wait_condition(
                lambda: (
                    self._outcome_of(payment) is not None or self._state.cancel_reason is not None
                ),
                timeout=self._policy.payment_action_timeout_seconds,
            )
        except TimeoutError:
            raise PaymentNotCompletedError("the payment was not completed in time") from None
        self._raise_if_cancel_requested()
        reported = self._outcome_of(payment)
        assert reported is not None
        outcome, succeeded = reported
        await self._attempt(
            Step.PAYMENT_OUTCOME,
            lambda: run_step(
                Payments.record_payment_outcome,
                RecordPaymentOutcomeInput(
                    order_id=self._order.order_id,
                    succeeded=succeeded,
                    provider_event_id=outcome.provider_event_id,
                    reference=outcome.reference,
                    reason=outcome.reason,
                    capture=capture,
                ),
                self._queues.payments,
                MUST_COMPLETE,
                summary=f"record payment {'succeeded' if succeeded else 'failed'}",
            ),
        )
        self._state.next_action = None
        if not succeeded:
            self._charge_may_exist = False
            raise PaymentNotCompletedError(outcome.reason or "the payment was not completed")
        if capture:
            self._advance(OrderStatus.PAID, "charged")
        else:
            self._advance(OrderStatus.RESERVED, "authorized")

    def _summary(self, text: str) -> str | None:
        return text if self._waiting_states else None

    def _advance(self, target: OrderStatus, step: str) -> None:
        self._state.status = transition(self._state.status, target)
        self._state.completed_steps.append(step)
        if not self._lean:
            workflow.upsert_search_attributes([ORDER_STATUS.value_set(self._state.status)])
        elif self._searchable(target):
            updates: list[SearchAttributeUpdate[Any]] = [ORDER_STATUS.value_set(target)]
            if self._attention_visible and is_terminal(target):
                # Ended by a cancel or the hold-over while parked: no longer waiting.
                updates.append(NEEDS_ATTENTION_SINCE.value_unset())
                self._attention_visible = False
                self._state.needs_attention_since = None
            workflow.upsert_search_attributes(updates)
            self._visible_status = target
        if self._waiting_states:
            workflow.set_current_details(f"**{self._state.status}**, last step: {step}")

    def _searchable(self, target: OrderStatus) -> bool:
        """Worth a visibility write: an operator filters on it, or visibility still shows a
        waiting state the order has left (a paid PAYMENT_PENDING must not stay listed)."""
        return is_waiting(target) or is_terminal(target) or is_waiting(self._visible_status)

    def _raise_if_cancel_requested(self) -> None:
        if self._state.cancel_reason is not None:
            raise CancelRequestedError(self._state.cancel_reason)

    def _outcome_of(self, payment: PaymentResult) -> tuple[PaymentOutcome, bool] | None:
        """The first report on the charge the saga waits for. Reports on other charges
        (an ordinary payment's own webhook, another intent naming this order) are not its
        outcome; kept from before the wait, a report that beat the charge's reply counts."""
        reference = payment.gateway_reference
        for outcome, succeeded in self._outcomes:
            if reference is None or outcome.reference == reference:
                return outcome, succeeded
        return None

    def _report(self, outcome: PaymentOutcome, *, succeeded: bool) -> None:
        # A webhook delivered twice, or a second report after the first: the first stands.
        if outcome.provider_event_id in self._state.payment_events:
            return
        self._state.payment_events.append(outcome.provider_event_id)
        self._outcomes.append((outcome, succeeded))
