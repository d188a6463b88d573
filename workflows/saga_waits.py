"""The saga's waiting states: a parked step (NEEDS_ATTENTION) and a payment waiting for the
customer (PAYMENT_PENDING). Functions of the saga's state; OrderSaga's handlers wake them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from messages.activities import (
        PaymentResult,
        RecordOrderStatusInput,
        RecordPaymentOutcomeInput,
    )
    from messages.contract import OrderStatusRecords, Payments
    from messages.saga import RetryRequest, Step
    from messages.search_attributes import NEEDS_ATTENTION_SINCE, ORDER_STATUS
    from models.actor import Actor
    from models.order_status import OrderStatus, transition

# Our workflow code is imported under the sandbox, never passed through: its calls are guarded.
from workflows.saga_state import SagaState
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

__all__ = ["attempt", "await_payment"]

T = TypeVar("T")
_RETRY, _CANCEL, _HOLD_OVER = "retry", "cancel", "hold-over"


async def attempt(state: SagaState, step: Step, call: Callable[[], Awaitable[T]]) -> T:
    """Run ``step``; on a failure the saga did not plan for, park and await a decision."""
    state.step = step
    if state.patches.waiting_states:
        state.view.step = step
        workflow.set_current_details(f"**{state.view.status}**, step: {step}")
    while True:
        try:
            return await call()
        except ActivityError as failure:
            if not state.patches.waiting_states or is_final(step, failure):
                raise
            decision = await _park(state, step, describe(failure))
        if decision == _CANCEL:
            raise CancelRequestedError(state.view.cancel_reason)
        if decision == _HOLD_OVER:
            raise StepAbandonedError(step, state.view.last_error or step)


async def _park(state: SagaState, step: Step, reason: str) -> str:
    """NEEDS_ATTENTION until an operator's retry or cancel, or the hold runs out."""
    view = state.view
    state.retry = None
    left = view.status
    # Already parked: a compensation after a cancel from NEEDS_ATTENTION failed too.
    if left is not OrderStatus.NEEDS_ATTENTION:
        view.status = transition(left, OrderStatus.NEEDS_ATTENTION)
    view.resume_status = left
    view.last_error = reason
    since = workflow.now()
    view.needs_attention_since = since
    workflow.upsert_search_attributes(
        [
            ORDER_STATUS.value_set(OrderStatus.NEEDS_ATTENTION),
            NEEDS_ATTENTION_SINCE.value_set(since),
        ]
    )
    state.visible_status = OrderStatus.NEEDS_ATTENTION
    state.attention_visible = True
    workflow.set_current_details(
        f"**NEEDS_ATTENTION** at step `{step}` since {since:%Y-%m-%d %H:%M} UTC\n\n"
        f"Last error: {reason}\n\nSend the signal or update `retry` to run the step "
        "again, or `cancel` to compensate."
    )
    # A failed compensation waits for a retry only: nothing else can undo what it holds.
    hold = None if state.compensating else state.policy.attention_hold_seconds
    view.needs_attention_until = None if hold is None else since + timedelta(seconds=hold)
    # Operators see NEEDS_ATTENTION from here on: a decision sent while the park is
    # still being recorded counts (the record may take its whole budget).
    view.awaiting_decision = True
    try:
        await _record_status(state, OrderStatus.NEEDS_ATTENTION, step, reason=reason)
        await workflow.wait_condition(
            lambda: state.retry is not None or state.cancel_waiting(), timeout=hold
        )
    except TimeoutError:
        return _HOLD_OVER
    finally:
        view.awaiting_decision = False
        view.needs_attention_until = None
    if state.cancel_waiting():
        return _CANCEL
    retry = state.retry or RetryRequest()
    if left is not OrderStatus.NEEDS_ATTENTION:
        view.status = transition(OrderStatus.NEEDS_ATTENTION, left)
    view.needs_attention_since = None
    view.retries += 1
    view.completed_steps.append(f"retried:{step}")
    workflow.upsert_search_attributes(
        [ORDER_STATUS.value_set(left), NEEDS_ATTENTION_SINCE.value_unset()]
    )
    state.visible_status = left
    state.attention_visible = False
    workflow.set_current_details(f"**{left}**, step: {step} (retried by {retry.operator})")
    # The operator chose to go on: the read model must follow before the step runs
    # again (its activities refuse an order the row still shows parked), so this record
    # is retried until it lands, not given up on like the park's.
    await _record_status(
        state,
        left,
        step,
        actor=retry.operator,
        verified_actor=retry.actor,
        note=retry.note,
        policy=MUST_COMPLETE,
    )
    return _RETRY


async def _record_status(
    state: SagaState,
    status: OrderStatus,
    step: Step,
    *,
    reason: str | None = None,
    actor: str = "system",
    verified_actor: Actor | None = None,
    note: str = "",
    policy: StepPolicy = BEST_EFFORT,
) -> None:
    with contextlib.suppress(ActivityError):
        # The read model may lag (the database may be what is down); the saga's own
        # state, its query and search attributes stay the truth meanwhile.
        await run_step(
            OrderStatusRecords.record_order_status,
            RecordOrderStatusInput(
                order=state.order,
                status=status,
                step=step,
                reason=reason,
                actor=actor,
                note=note,
                verified_actor=verified_actor,
            ),
            state.queues.notifications,
            policy,
            summary=f"record {status} at {step}",
        )


async def await_payment(state: SagaState, payment: PaymentResult, *, capture: bool) -> None:
    """PAYMENT_PENDING until the provider reports, the customer times out, or a cancel."""
    state.advance(OrderStatus.PAYMENT_PENDING, "payment_pending")
    state.view.next_action = payment.next_action
    timeout = state.policy.payment_action_timeout_seconds
    workflow.set_current_details(
        f"**PAYMENT_PENDING**: waiting for the customer's action (timeout {timeout:.0f}s)"
    )
    try:
        await workflow.wait_condition(
            lambda: state.outcome_of(payment) is not None or state.view.cancel_reason is not None,
            timeout=timeout,
        )
    except TimeoutError:
        raise PaymentNotCompletedError("the payment was not completed in time") from None
    state.raise_if_cancel_requested()
    reported = state.outcome_of(payment)
    assert reported is not None
    outcome, succeeded = reported
    await attempt(
        state,
        Step.PAYMENT_OUTCOME,
        lambda: run_step(
            Payments.record_payment_outcome,
            RecordPaymentOutcomeInput(
                order_id=state.order.order_id,
                succeeded=succeeded,
                provider_event_id=outcome.provider_event_id,
                reference=outcome.reference,
                reason=outcome.reason,
                capture=capture,
            ),
            state.queues.payments,
            MUST_COMPLETE,
            summary=f"record payment {'succeeded' if succeeded else 'failed'}",
        ),
    )
    state.view.next_action = None
    if not succeeded:
        state.charge_may_exist = False
        raise PaymentNotCompletedError(outcome.reason or "the payment was not completed")
    if capture:
        state.advance(OrderStatus.PAID, "charged")
    else:
        state.advance(OrderStatus.RESERVED, "authorized")
