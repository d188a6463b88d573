"""The order aggregate: placing an order, its invariants, and its behaviour per status."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from models import (
    EventItem,
    IllegalTransitionError,
    InvalidOrderError,
    InvalidPaymentError,
    Money,
    Order,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderItem,
    OrderNeedsAttention,
    OrderRejected,
    OrderRetried,
    OrderStatus,
    PaymentDetails,
)
from models.events import DomainEvent
from tests.unit.test_order_status import LEGAL

S = OrderStatus
CARD = PaymentDetails(token="tok_visa")


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def line(product_id: str = "sku-1", quantity: int = 1, price: str = "10.00") -> OrderItem:
    return OrderItem(product_id, quantity, eur(price))


def order_in(status: OrderStatus) -> Order:
    return Order(id="o-1", customer_id="c-1", items=(line(),), payment=CARD, status=status)


def placed(*items: OrderItem) -> tuple[Order, OrderCreated]:
    return Order.place(order_id="o-1", customer_id="c-1", items=items or (line(),), payment=CARD)


def test_placing_an_order_makes_it_pending_and_records_its_creation() -> None:
    """place returns a PENDING order and the OrderCreated event describing it."""
    order, created = placed(line("sku-1", 2, "2.50"), line("sku-2", 1, "4.99"))

    assert order.status is S.PENDING
    assert order.total == eur("9.99")
    assert created == OrderCreated(
        order_id="o-1",
        customer_id="c-1",
        items=(
            EventItem("sku-1", 2, Decimal("2.50")),
            EventItem("sku-2", 1, Decimal("4.99")),
        ),
        total_amount=Decimal("9.99"),
        currency="EUR",
    )


def test_order_created_carries_no_payment_token() -> None:
    """The token never leaves the order in an event bound for Kafka."""
    _, created = placed()
    assert "tok_visa" not in repr(created)


def test_repeated_products_are_merged_into_one_line_in_first_seen_order() -> None:
    """place sums the quantities of a product listed twice at one price."""
    order, created = placed(line("a", 1), line("b", 2), line("a", 3))

    assert order.quantities == (("a", 4), ("b", 2))
    assert [item.quantity for item in created.items] == [4, 2]


def test_a_product_listed_at_two_prices_is_refused() -> None:
    """Which of two prices applies is not the domain's to guess."""
    with pytest.raises(InvalidOrderError, match="two prices"):
        placed(line("a", 1, "1.00"), line("a", 1, "1.50"))


def test_rebuilding_an_order_with_a_repeated_product_is_refused() -> None:
    """A stored order has one line per product; two lines mean corrupt data."""
    with pytest.raises(InvalidOrderError, match="two lines"):
        Order(id="o-1", customer_id="c-1", items=(line("a"), line("a")), payment=CARD)


def test_an_order_without_items_is_refused() -> None:
    """An order must ask for something."""
    with pytest.raises(InvalidOrderError, match="at least one item"):
        Order.place(order_id="o-1", customer_id="c-1", items=[], payment=CARD)


def test_an_order_in_two_currencies_is_refused() -> None:
    """An order is charged once, so it is priced in one currency."""
    with pytest.raises(InvalidOrderError, match="one currency"):
        placed(line("a"), OrderItem("b", 1, Money.of("1.00", "USD")))


@pytest.mark.parametrize(("order_id", "customer_id"), [("", "c-1"), ("o-1", "  ")])
def test_an_order_needs_an_id_and_a_customer(order_id: str, customer_id: str) -> None:
    """Blank ids are refused."""
    with pytest.raises(InvalidOrderError):
        Order.place(order_id=order_id, customer_id=customer_id, items=[line()], payment=CARD)


@pytest.mark.parametrize("quantity", [0, -1])
def test_an_item_quantity_below_one_is_refused(quantity: int) -> None:
    """A line orders at least one unit."""
    with pytest.raises(InvalidOrderError, match="at least 1"):
        line(quantity=quantity)


@pytest.mark.parametrize("quantity", [1.0, True, "2"])
def test_an_item_quantity_must_be_an_int(quantity: object) -> None:
    """Quantities are whole numbers; 1.0 and True are bugs upstream."""
    with pytest.raises(TypeError):
        OrderItem("sku-1", quantity, eur("1"))  # type: ignore[arg-type]


@pytest.mark.parametrize("price", ["0", "-1.00"])
def test_an_item_must_cost_something(price: str) -> None:
    """Free or negative prices are refused: every order goes through a charge."""
    with pytest.raises(InvalidOrderError, match="positive"):
        line(price=price)


def test_an_item_price_must_be_money() -> None:
    """A bare Decimal price has no currency and is refused."""
    with pytest.raises(TypeError):
        OrderItem("sku-1", 1, Decimal("1.00"))  # type: ignore[arg-type]


def test_line_total_is_unit_price_times_quantity() -> None:
    """A line costs its unit price once per unit."""
    assert line(quantity=3, price="1.15").line_total == eur("3.45")


def test_payment_details_default_to_card() -> None:
    """Card is the method unless another is named."""
    assert PaymentDetails(token="tok_visa").method == "card"


@pytest.mark.parametrize(
    "token", ["4242424242424242", "4242 4242 4242 4242", "4000-0566-5566-5556", "378282246310005"]
)
def test_a_card_number_is_refused_as_a_payment_token(token: str) -> None:
    """Only the provider's opaque token is accepted, so a card number never gets stored."""
    with pytest.raises(InvalidPaymentError, match="card number"):
        PaymentDetails(token=token)


@pytest.mark.parametrize("token", ["tok_visa", "pm_1NXx2k", "12345"])
def test_provider_tokens_are_accepted(token: str) -> None:
    """Tokens and short references that cannot be card numbers pass."""
    assert PaymentDetails(token=token).token == token


def test_a_blank_payment_token_is_refused() -> None:
    """Without a token there is nothing to charge."""
    with pytest.raises(InvalidPaymentError):
        PaymentDetails(token=" ")


def test_the_payment_token_is_kept_out_of_repr() -> None:
    """Logging an order or its payment details does not log the token."""
    assert "tok_visa" not in repr(CARD)
    assert "tok_visa" not in repr(order_in(S.PENDING))


def test_an_order_goes_from_pending_to_confirmed() -> None:
    """The happy path: reserved, paid, then confirmed with an OrderConfirmed event."""
    order, _ = placed()

    order.mark_reserved()
    order.mark_paid("pay-1")
    confirmed = order.confirm()

    assert order.status is S.CONFIRMED
    assert order.payment_id == "pay-1"
    assert confirmed == OrderConfirmed(order_id="o-1")
    assert order.is_terminal


def test_rejecting_a_pending_order_records_why() -> None:
    """Out of stock: the order is REJECTED and says why."""
    order, _ = placed()

    rejected = order.reject("out of stock: sku-1")

    assert order.status is S.REJECTED
    assert order.reason == "out of stock: sku-1"
    assert rejected == OrderRejected(order_id="o-1", reason="out of stock: sku-1")


def test_a_failed_payment_ends_a_reserved_order_without_an_order_event() -> None:
    """PAYMENT_FAILED is recorded; its event, PaymentFailed, is the payment domain's."""
    order = order_in(S.RESERVED)

    order.fail_payment("card declined")

    assert order.status is S.PAYMENT_FAILED
    assert order.reason == "card declined"


@pytest.mark.parametrize("status", [S.PENDING, S.RESERVED, S.PAID], ids=str)
def test_an_unsettled_order_can_be_cancelled(status: OrderStatus) -> None:
    """Cancelling before confirmation ends the order with an OrderCancelled event."""
    order = order_in(status)
    assert order.can_cancel

    cancelled = order.cancel("customer changed their mind")

    assert order.status is S.CANCELLED
    assert cancelled == OrderCancelled(order_id="o-1", reason="customer changed their mind")


def test_cancelling_a_confirmed_order_is_refused_and_changes_nothing() -> None:
    """A settled order stays as it is."""
    order = order_in(S.CONFIRMED)

    with pytest.raises(IllegalTransitionError):
        order.cancel("too late")

    assert order.status is S.CONFIRMED
    assert order.reason is None


def test_a_blank_reason_is_refused_before_the_status_changes() -> None:
    """The customer is shown the reason, so one must be given."""
    order = order_in(S.PENDING)

    with pytest.raises(InvalidOrderError):
        order.reject("")

    assert order.status is S.PENDING


BEHAVIOURS: dict[OrderStatus, Callable[[Order], DomainEvent | None]] = {
    S.RESERVED: lambda order: order.mark_reserved(),
    S.PAID: lambda order: order.mark_paid("pay-1"),
    S.CONFIRMED: lambda order: order.confirm(),
    S.REJECTED: lambda order: order.reject("no stock"),
    S.PAYMENT_FAILED: lambda order: order.fail_payment("declined"),
    S.CANCELLED: lambda order: order.cancel("asked to"),
    S.PAYMENT_PENDING: lambda order: order.await_payment_action(),
    S.NEEDS_ATTENTION: lambda order: order.park("charge", "provider down"),
}
ALL_CASES = [(current, target) for current in OrderStatus for target in BEHAVIOURS]


@pytest.mark.parametrize(("current", "target"), ALL_CASES, ids=str)
def test_each_behaviour_moves_only_where_the_table_allows(
    current: OrderStatus, target: OrderStatus
) -> None:
    """Every method, from every status, either makes its move or raises and leaves it be."""
    order = order_in(current)
    behave = BEHAVIOURS[target]

    if target in LEGAL[current]:
        behave(order)
        assert order.status is target
    else:
        with pytest.raises(IllegalTransitionError):
            behave(order)
        assert order.status is current


def test_a_stored_status_string_is_read_back_as_a_status() -> None:
    """Rebuilding from storage accepts the status as its stored string."""
    order = Order(id="o-1", customer_id="c-1", items=(line(),), payment=CARD, status="PAID")  # type: ignore[arg-type]
    assert order.status is S.PAID


def test_orders_are_the_same_entity_when_their_ids_match() -> None:
    """An order is identified by its id, not by its current state."""
    first, second = order_in(S.PENDING), order_in(S.CONFIRMED)
    assert first == second
    assert len({first, second}) == 1
    assert first != Order(id="o-2", customer_id="c-1", items=(line(),), payment=CARD)


def test_a_parked_order_records_the_step_and_why() -> None:
    """NEEDS_ATTENTION says which step could not go on and the cause, decided by the system."""
    order = order_in(S.RESERVED)

    parked = order.park("charge", "payment unavailable: gave up after schedule_to_close")

    assert order.status is S.NEEDS_ATTENTION
    assert parked == OrderNeedsAttention(
        order_id="o-1",
        step="charge",
        reason="payment unavailable: gave up after schedule_to_close",
        actor="system",
    )


def test_a_retry_returns_a_parked_order_to_the_status_it_left() -> None:
    """The operator's retry is an OrderRetried event naming them and the step."""
    order = order_in(S.NEEDS_ATTENTION)

    retried = order.resume(S.RESERVED, "charge", "alice", "provider is back")

    assert order.status is S.RESERVED
    assert retried == OrderRetried(
        order_id="o-1", step="charge", actor="alice", note="provider is back"
    )


@pytest.mark.parametrize("target", [S.NEEDS_ATTENTION, S.CONFIRMED, S.CANCELLED], ids=str)
def test_a_retry_cannot_end_an_order_or_stay_parked(target: OrderStatus) -> None:
    """Ending an order goes through its own method (and event); a retry only resumes."""
    order = order_in(S.NEEDS_ATTENTION)

    with pytest.raises(IllegalTransitionError):
        order.resume(target, "charge", "alice")

    assert order.status is S.NEEDS_ATTENTION


def test_only_a_parked_order_can_be_retried() -> None:
    """A running order has nothing to retry."""
    order = order_in(S.RESERVED)

    with pytest.raises(IllegalTransitionError):
        order.resume(S.RESERVED, "charge", "alice")
