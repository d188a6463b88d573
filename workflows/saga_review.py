"""IN_REVIEW: an order over a spend limit waits for a person before the charge.

The reservation brought the customer's activity (no extra round trip); the decision is the
domain's (models/risk.py). The order holds its stock and no charge while it waits for an
operator's ``approve`` or ``reject`` (signals, or the ``review`` update), a cancel, or the
review timer, which rejects by default. Only sagas that recorded the ``spend-review``
patch get here (``SagaPatches.review``).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from messages.activities import ReservationResult
    from messages.saga import Step
    from models.actor import operator
    from models.order_status import OrderStatus
    from models.risk import review_reasons

# Our workflow code is imported under the sandbox, never passed through: its calls are guarded.
from workflows.saga_state import SagaState
from workflows.saga_steps import MUST_COMPLETE, ReviewRejectedError
from workflows.saga_waits import record_status

__all__ = ["review_if_needed"]

TIMED_OUT = "rejected in review: the review timed out"


async def review_if_needed(state: SagaState, reservation: ReservationResult) -> None:
    """Hold the order IN_REVIEW when it breaks a limit; return once approved.

    Raises ReviewRejectedError when rejected or timed out, CancelRequestedError on a cancel
    (the saga then compensates in full: nothing was charged)."""
    policy = state.policy.review
    if not state.patches.review or policy is None:
        return
    reasons = review_reasons(state.order.total, reservation.customer_activity, policy.limits())
    if reasons:
        await _await_review(state, tuple(reasons), policy.timeout_seconds)


async def _await_review(state: SagaState, reasons: tuple[str, ...], seconds: float) -> None:
    view = state.view
    state.step = view.step = Step.REVIEW
    state.review = None
    state.advance(OrderStatus.IN_REVIEW, "held_for_review")
    view.review_reasons = list(reasons)
    view.review_until = workflow.now() + timedelta(seconds=seconds)
    workflow.set_current_details(
        f"**IN_REVIEW** until {view.review_until:%Y-%m-%d %H:%M} UTC: {'; '.join(reasons)}\n\n"
        'Send the signal `approve` or `reject` (input `{"operator": …, "note": …}`), or '
        "the update `review`; without a decision the order is rejected."
    )
    # A decision sent while the hold is still being recorded counts.
    view.awaiting_review = True
    try:
        # The read model may lag (the database may be what is down); the saga's state,
        # its query and search attributes stay the truth meanwhile.
        await record_status(
            state, OrderStatus.IN_REVIEW, Step.REVIEW, reason="; ".join(reasons), reasons=reasons
        )
        await workflow.wait_condition(
            lambda: state.review is not None or state.cancel_waiting(), timeout=seconds
        )
    except TimeoutError:
        raise ReviewRejectedError(TIMED_OUT) from None
    finally:
        view.awaiting_review = False
        view.review_until = None
    state.raise_if_cancel_requested()
    decision = state.review
    assert decision is not None
    if not decision.approve:
        state.review_actor = decision.actor or operator(decision.operator)
        raise ReviewRejectedError(f"rejected in review: {decision.note or 'no reason given'}")
    # The charge refuses an order the row still shows IN_REVIEW: this record must land
    # before it runs, so it is retried until it does (like a retry's).
    await record_status(
        state,
        OrderStatus.RESERVED,
        Step.REVIEW,
        actor=decision.operator,
        verified_actor=decision.actor,
        note=decision.note,
        policy=MUST_COMPLETE,
    )
    state.advance(OrderStatus.RESERVED, f"review_approved:{decision.operator}")
