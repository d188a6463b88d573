"""The order's transition table: every move it allows, and every move it refuses."""

from __future__ import annotations

from enum import StrEnum

import pytest

from models import (
    IllegalTransitionError,
    OrderStatus,
    allowed_transitions,
    can_cancel,
    is_terminal,
    transition,
)
from models._transitions import TransitionTable
from models.order_status import is_waiting

S = OrderStatus

# Written out independently of the model, from the design.
LEGAL: dict[OrderStatus, set[OrderStatus]] = {
    S.PENDING: {S.RESERVED, S.REJECTED, S.CANCELLED, S.NEEDS_ATTENTION},
    S.RESERVED: {
        S.PAID,
        S.PAYMENT_PENDING,
        S.PAYMENT_FAILED,
        S.CANCELLED,
        S.REJECTED,
        S.NEEDS_ATTENTION,
    },
    S.PAYMENT_PENDING: {S.PAID, S.RESERVED, S.PAYMENT_FAILED, S.CANCELLED, S.NEEDS_ATTENTION},
    S.PAID: {S.CONFIRMED, S.CANCELLED, S.PAYMENT_FAILED, S.NEEDS_ATTENTION},
    S.NEEDS_ATTENTION: {
        S.PENDING,
        S.RESERVED,
        S.PAYMENT_PENDING,
        S.PAID,
        S.REJECTED,
        S.PAYMENT_FAILED,
        S.CANCELLED,
    },
    S.CONFIRMED: {S.REFUNDED},
    S.REFUNDED: set(),
    S.REJECTED: set(),
    S.PAYMENT_FAILED: set(),
    S.CANCELLED: set(),
}

ALL_PAIRS = [(current, target) for current in OrderStatus for target in OrderStatus]
LEGAL_PAIRS = [(current, target) for current, target in ALL_PAIRS if target in LEGAL[current]]
ILLEGAL_PAIRS = [(current, target) for current, target in ALL_PAIRS if target not in LEGAL[current]]


def test_expected_table_names_every_status() -> None:
    """The matrix below covers every status the model defines."""
    assert set(LEGAL) == set(OrderStatus)


@pytest.mark.parametrize(("current", "target"), LEGAL_PAIRS, ids=str)
def test_legal_transition_returns_the_target(current: OrderStatus, target: OrderStatus) -> None:
    """A move the table allows yields the new status."""
    assert transition(current, target) is target


@pytest.mark.parametrize(("current", "target"), ILLEGAL_PAIRS, ids=str)
def test_illegal_transition_raises(current: OrderStatus, target: OrderStatus) -> None:
    """Any move the table does not list, including staying put, is an error."""
    with pytest.raises(IllegalTransitionError) as raised:
        transition(current, target)
    assert (raised.value.entity, raised.value.current, raised.value.target) == (
        "order",
        current,
        target,
    )
    assert str(raised.value) == f"order cannot go from {current} to {target}"


@pytest.mark.parametrize("status", list(OrderStatus), ids=str)
def test_allowed_transitions_match_the_table(status: OrderStatus) -> None:
    """allowed_transitions lists exactly the legal targets."""
    assert set(allowed_transitions(status)) == LEGAL[status]


@pytest.mark.parametrize("status", list(OrderStatus), ids=str)
def test_a_status_is_terminal_exactly_when_it_has_no_way_out(status: OrderStatus) -> None:
    """The saga's outcomes end the order; CONFIRMED is left only by an after-sale refund."""
    assert is_terminal(status) == (not LEGAL[status] or LEGAL[status] == {S.REFUNDED})


def test_terminal_statuses_are_the_saga_outcomes_and_refunded() -> None:
    """The terminal set is the one the design names."""
    assert {status for status in OrderStatus if is_terminal(status)} == {
        S.CONFIRMED,
        S.REJECTED,
        S.PAYMENT_FAILED,
        S.CANCELLED,
        S.REFUNDED,
    }


@pytest.mark.parametrize("status", list(OrderStatus), ids=str)
def test_an_order_can_be_cancelled_until_it_is_settled(status: OrderStatus) -> None:
    """Cancelling is open in PENDING, RESERVED, PAID and both waiting states, nowhere else."""
    open_ = {S.PENDING, S.RESERVED, S.PAID, S.PAYMENT_PENDING, S.NEEDS_ATTENTION}
    assert can_cancel(status) == (status in open_)


@pytest.mark.parametrize("status", list(OrderStatus), ids=str)
def test_only_the_two_waiting_states_wait(status: OrderStatus) -> None:
    """PAYMENT_PENDING and NEEDS_ATTENTION wait on someone outside; neither is terminal."""
    assert is_waiting(status) == (status in {S.PAYMENT_PENDING, S.NEEDS_ATTENTION})
    assert not (is_waiting(status) and is_terminal(status))


def test_status_values_are_their_names() -> None:
    """The stored and searched form of a status is its upper-case name."""
    assert [status.value for status in OrderStatus] == [status.name for status in OrderStatus]
    assert OrderStatus("PAYMENT_FAILED") is S.PAYMENT_FAILED


def test_allowed_transitions_keep_their_declared_order() -> None:
    """Targets come back in a fixed order, so workflow code that lists them replays alike."""
    assert allowed_transitions(S.PENDING) == (
        S.RESERVED,
        S.REJECTED,
        S.CANCELLED,
        S.NEEDS_ATTENTION,
    )


def test_a_table_that_forgets_a_status_is_refused() -> None:
    """Adding a status without deciding its moves fails at import, not in production."""

    class Light(StrEnum):
        RED = "RED"
        GREEN = "GREEN"

    with pytest.raises(ValueError, match="GREEN"):
        TransitionTable("light", Light, {Light.RED: (Light.GREEN,)})
