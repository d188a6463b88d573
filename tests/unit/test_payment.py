"""Payments: the status moves they may make and the events each move produces."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from models import (
    DomainEvent,
    IllegalTransitionError,
    InvalidPaymentError,
    Money,
    Payment,
    PaymentFailed,
    PaymentProcessed,
    PaymentRefunded,
    PaymentStatus,
    PaymentVoided,
    allowed_payment_transitions,
    payment_transition,
)

P = PaymentStatus
AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

# Written out independently of the model, from the design.
LEGAL: dict[PaymentStatus, set[PaymentStatus]] = {
    P.PENDING: {P.AUTHORIZED, P.CAPTURED, P.FAILED, P.VOIDED},
    P.AUTHORIZED: {P.CAPTURED, P.VOIDED},
    P.CAPTURED: {P.REFUNDED},
    P.FAILED: set(),
    P.REFUNDED: set(),
    P.VOIDED: set(),
}
ALL_PAIRS = [(current, target) for current in PaymentStatus for target in PaymentStatus]


def payment_in(status: PaymentStatus = P.PENDING) -> Payment:
    return Payment(
        id="pay-1",
        order_id="o-1",
        amount=Money.of("25.00", "EUR"),
        status=status,
        method="card",
        timestamp=AT,
    )


def test_expected_table_names_every_status() -> None:
    """The matrix below covers every payment status."""
    assert set(LEGAL) == set(PaymentStatus)


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=str)
def test_payment_transitions_follow_the_table(
    current: PaymentStatus, target: PaymentStatus
) -> None:
    """Each listed move yields its target; every other move raises."""
    if target in LEGAL[current]:
        assert payment_transition(current, target) is target
    else:
        with pytest.raises(IllegalTransitionError, match=f"payment cannot go from {current}"):
            payment_transition(current, target)


@pytest.mark.parametrize("status", list(PaymentStatus), ids=str)
def test_allowed_payment_transitions_match_the_table(status: PaymentStatus) -> None:
    """allowed_payment_transitions lists exactly the legal targets."""
    assert set(allowed_payment_transitions(status)) == LEGAL[status]
    assert payment_in(status).is_terminal == (not LEGAL[status])


BEHAVIOURS: dict[PaymentStatus, Callable[[Payment], DomainEvent]] = {
    P.AUTHORIZED: lambda payment: payment.authorize(),
    P.CAPTURED: lambda payment: payment.capture(),
    P.FAILED: lambda payment: payment.fail("declined"),
    P.VOIDED: lambda payment: payment.void(),
    P.REFUNDED: lambda payment: payment.refund(),
}
ALL_CASES = [(current, target) for current in PaymentStatus for target in BEHAVIOURS]


@pytest.mark.parametrize(("current", "target"), ALL_CASES, ids=str)
def test_each_behaviour_moves_only_where_the_table_allows(
    current: PaymentStatus, target: PaymentStatus
) -> None:
    """Every method, from every status, either makes its move or raises and leaves it be."""
    payment = payment_in(current)
    behave = BEHAVIOURS[target]

    if target in LEGAL[current]:
        event = behave(payment)
        assert payment.status is target
        assert event.aggregate_id == "o-1"
    else:
        with pytest.raises(IllegalTransitionError):
            behave(payment)
        assert payment.status is current


def test_authorising_then_capturing_reports_each_step() -> None:
    """Both steps produce PaymentProcessed, told apart by their status."""
    payment = payment_in()

    authorized = payment.authorize()
    captured = payment.capture()

    assert authorized == PaymentProcessed(
        payment_id="pay-1",
        order_id="o-1",
        amount=Decimal("25.00"),
        currency="EUR",
        status="AUTHORIZED",
    )
    assert captured.status == "CAPTURED"
    assert (captured.payment_id, captured.amount) == ("pay-1", Decimal("25.00"))


def test_a_payment_can_be_captured_in_one_step() -> None:
    """The direct flow captures straight from PENDING."""
    payment = payment_in()
    assert payment.capture().status == "CAPTURED"
    assert payment.status is P.CAPTURED


def test_a_failed_payment_records_why() -> None:
    """A decline ends the payment with its reason and a PaymentFailed naming it."""
    payment = payment_in()

    failed = payment.fail("card declined")

    assert payment.failure_reason == "card declined"
    assert failed == PaymentFailed(order_id="o-1", reason="card declined", payment_id="pay-1")


def test_voiding_an_authorisation_releases_the_full_amount() -> None:
    """An authorisation given up before capture is voided: no money moved."""
    payment = payment_in(P.AUTHORIZED)
    assert payment.void() == PaymentVoided(
        order_id="o-1", payment_id="pay-1", amount=Decimal("25.00"), currency="EUR"
    )


@pytest.mark.parametrize("status", list(PaymentStatus), ids=str)
def test_only_a_payment_not_yet_made_can_be_abandoned(status: PaymentStatus) -> None:
    """The saga's fence: a PENDING payment given up on is VOIDED with no event (nothing
    was held or taken); a payment already past PENDING is refused."""
    payment = payment_in(status)

    if status is P.PENDING:
        payment.abandon()
        assert payment.status is P.VOIDED
    else:
        with pytest.raises(InvalidPaymentError):
            payment.abandon()
        assert payment.status is status


def test_refunding_a_capture_returns_the_full_amount() -> None:
    """A captured payment is refunded in full."""
    payment = payment_in(P.CAPTURED)
    assert payment.refund() == PaymentRefunded(
        order_id="o-1", payment_id="pay-1", amount=Decimal("25.00"), currency="EUR"
    )


def test_a_payment_cannot_be_refunded_twice() -> None:
    """The second refund of one payment is an illegal move, not a second payout."""
    payment = payment_in(P.CAPTURED)
    payment.refund()
    with pytest.raises(IllegalTransitionError):
        payment.refund()


def test_a_partial_refund_keeps_the_payment_captured() -> None:
    """Part of a capture given back (an after-sale refund of some lines): the event says how
    much, the payment stays CAPTURED; more than was paid, or of an authorisation, is refused."""
    payment = payment_in(P.CAPTURED)
    assert payment.refund(Money.of("10.00", "EUR")) == PaymentRefunded(
        order_id="o-1", payment_id="pay-1", amount=Decimal("10.00"), currency="EUR"
    )
    assert payment.status is P.CAPTURED
    with pytest.raises(InvalidPaymentError):
        payment.refund(Money.of("30.00", "EUR"))
    with pytest.raises(InvalidPaymentError):
        payment_in(P.AUTHORIZED).refund(Money.of("10.00", "EUR"))


@pytest.mark.parametrize("amount", ["0", "-5.00"])
def test_a_payment_is_for_a_positive_amount(amount: str) -> None:
    """Nothing or less than nothing cannot be charged."""
    with pytest.raises(InvalidPaymentError, match="positive"):
        Payment(id="p", order_id="o", amount=Money.of(amount, "EUR"), timestamp=AT)


def test_a_payment_timestamp_must_carry_its_zone() -> None:
    """A naive time is ambiguous across workers, so it is refused."""
    with pytest.raises(InvalidPaymentError, match="timezone"):
        Payment(
            id="p", order_id="o", amount=Money.of("1", "EUR"), timestamp=AT.replace(tzinfo=None)
        )


def test_a_payment_amount_must_be_money() -> None:
    """A bare Decimal has no currency and is refused."""
    with pytest.raises(TypeError):
        Payment(id="p", order_id="o", amount=Decimal("1.00"), timestamp=AT)  # type: ignore[arg-type]


def test_a_blank_failure_reason_is_refused() -> None:
    """A failure always says why."""
    payment = payment_in()
    with pytest.raises(InvalidPaymentError):
        payment.fail(" ")
    assert payment.status is P.PENDING


def test_a_stored_status_string_is_read_back_as_a_status() -> None:
    """Rebuilding from storage accepts the status as its stored string."""
    payment = Payment(
        id="p",
        order_id="o",
        amount=Money.of("1", "EUR"),
        status="CAPTURED",  # type: ignore[arg-type]
        timestamp=AT,
    )
    assert payment.status is P.CAPTURED


def test_payments_are_the_same_entity_when_their_ids_match() -> None:
    """A payment is identified by its id."""
    assert payment_in(P.PENDING) == payment_in(P.REFUNDED)
