"""The order decides where its payment's outcome takes it, and records an after-sale refund."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models import (
    EventItem,
    IllegalTransitionError,
    InvalidOrderError,
    Money,
    Order,
    OrderRefunded,
    OrderStatus,
    Payment,
    PaymentDetails,
    PaymentStatus,
)
from tests.unit.test_order import order_in
from tests.unit.test_payment import payment_in

S = OrderStatus
P = PaymentStatus


def test_a_captured_charge_makes_a_reserved_order_paid() -> None:
    order = order_in(S.RESERVED)

    order.record_payment(payment_in(P.CAPTURED))

    assert order.status is S.PAID
    assert order.payment_id == "pay-1"


def test_a_charge_waiting_for_the_customer_makes_the_order_wait_too() -> None:
    order = order_in(S.RESERVED)

    order.record_payment(payment_in(P.PENDING))

    assert order.status is S.PAYMENT_PENDING


@pytest.mark.parametrize("status", [P.AUTHORIZED, P.FAILED])
def test_an_authorisation_or_a_decline_leaves_the_order_reserved(status: PaymentStatus) -> None:
    """An authorisation is captured at confirmation; a decline is ended by the saga."""
    order = order_in(S.RESERVED)

    order.record_payment(payment_in(status))

    assert order.status is S.RESERVED


def test_a_charge_recorded_on_an_ended_order_is_refused() -> None:
    order = order_in(S.CANCELLED)

    with pytest.raises(IllegalTransitionError):
        order.record_payment(payment_in(P.CAPTURED))


def test_a_payment_of_another_order_is_refused() -> None:
    order = order_in(S.RESERVED)
    other = Payment(
        id="pay-2",
        order_id="o-2",
        amount=Money.of("10.00", "EUR"),
        timestamp=payment_in().timestamp,
    )

    with pytest.raises(InvalidOrderError):
        order.record_payment(other)
    assert order.status is S.RESERVED


@pytest.mark.parametrize(
    ("payment", "after"),
    [(P.CAPTURED, S.PAID), (P.AUTHORIZED, S.RESERVED), (P.FAILED, S.PAYMENT_PENDING)],
)
def test_the_providers_report_moves_a_waiting_order(
    payment: PaymentStatus, after: OrderStatus
) -> None:
    """Paid when the money was taken, reserved again when it was authorised; a failure
    waits for the saga's conclusion."""
    order = order_in(S.PAYMENT_PENDING)

    order.payment_reported(payment_in(payment))

    assert order.status is after


@pytest.mark.parametrize("status", [S.CANCELLED, S.PAYMENT_FAILED, S.NEEDS_ATTENTION])
def test_a_report_arriving_after_the_saga_moved_on_leaves_the_order_as_it_is(
    status: OrderStatus,
) -> None:
    order = order_in(status)

    order.payment_reported(payment_in(P.CAPTURED))

    assert order.status is status


def test_refunding_a_confirmed_order_records_what_went_back() -> None:
    order = order_in(S.CONFIRMED)

    refunded = order.refund(
        Money.of("4.00", "EUR"),
        [EventItem("sku-1", 1)],
        reason="damaged",
        actor="ops-alice",
        refund_reference="re_1",
    )

    assert order.status is S.REFUNDED
    assert order.reason == "damaged"
    assert refunded == OrderRefunded(
        order_id="o-1",
        amount=Decimal("4.00"),
        currency="EUR",
        items=(EventItem("sku-1", 1),),
        reason="damaged",
        actor="ops-alice",
        refund_reference="re_1",
    )


@pytest.mark.parametrize("status", [S.PAID, S.REFUNDED, S.CANCELLED])
def test_only_a_confirmed_order_is_refunded_after_the_sale(status: OrderStatus) -> None:
    order = order_in(status)

    with pytest.raises(IllegalTransitionError):
        order.refund(Money.of("4.00", "EUR"), [], reason="r", actor="a", refund_reference=None)


def test_an_order_read_back_from_storage_carries_no_payment_token() -> None:
    """The token is never stored, so an order rebuilt from its row has none."""
    stored = Order(
        id="o-1",
        customer_id="c-1",
        items=order_in(S.PAID).items,
        payment=PaymentDetails(method="card"),
        status=S.PAID,
    )

    assert stored.payment.token is None


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (S.CONFIRMED, "OrderConfirmed"),
        (S.REJECTED, "OrderRejected"),
        (S.CANCELLED, "OrderCancelled"),
    ],
)
def test_concluding_an_order_ends_it_with_that_endings_event(
    status: OrderStatus, event: str
) -> None:
    order = order_in(S.PAID if status is S.CONFIRMED else S.RESERVED)

    ended = order.conclude(status, "out of time")

    assert order.status is status
    assert type(ended).__name__ == event


def test_a_failed_payment_ends_the_order_with_no_event_of_its_own() -> None:
    """PaymentFailed, the payment's event, tells that ending."""
    order = order_in(S.RESERVED)

    assert order.conclude(S.PAYMENT_FAILED, "declined") is None
    assert (order.status, order.reason) == (S.PAYMENT_FAILED, "declined")


@pytest.mark.parametrize("status", [S.PAID, S.NEEDS_ATTENTION, S.REFUNDED])
def test_a_status_that_ends_no_order_does_not_conclude_it(status: OrderStatus) -> None:
    order = order_in(S.RESERVED)

    with pytest.raises(IllegalTransitionError):
        order.conclude(status, "r")
    assert order.status is S.RESERVED
