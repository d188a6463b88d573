"""The invariants checker (models/invariants.py) flags each broken rule, and only those."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from models.invariants import Money, OrderFacts, violations
from models.notification import NotificationType
from models.order_status import OrderStatus

TOTAL = Decimal("19.00")

CONFIRMED = OrderFacts(
    order_id="o-1",
    saga_status=OrderStatus.CONFIRMED,
    saga_ended=True,
    read_model=OrderStatus.CONFIRMED,
    total=TOTAL,
    units=2,
    money=Money(captured=TOTAL, charges_taken=1),
    stock_held=2,
    events=("OrderCreated", "InventoryReserved", "PaymentProcessed", "OrderConfirmed"),
    notices=(NotificationType.ORDER_CONFIRMED,),
)
CANCELLED = OrderFacts(
    order_id="o-2",
    saga_status=OrderStatus.CANCELLED,
    saga_ended=True,
    read_model=OrderStatus.CANCELLED,
    total=TOTAL,
    units=2,
    money=Money(captured=TOTAL, refunded=TOTAL, charges_taken=1),
    stock_held=0,
    events=("OrderCreated", "PaymentRefunded", "InventoryReleased", "OrderCancelled"),
    notices=(NotificationType.ORDER_CANCELLED,),
)


def test_orders_that_end_right_break_nothing() -> None:
    """A confirmed order keeping its total and stock, a cancelled one holding nothing."""
    assert violations(CONFIRMED) == []
    assert violations(CANCELLED) == []


@pytest.mark.parametrize(
    ("facts", "words"),
    [
        (replace(CANCELLED, money=Money(captured=TOTAL, charges_taken=1)), "money kept"),
        (replace(CANCELLED, money=Money(authorized=TOTAL)), "still authorised"),
        (replace(CANCELLED, money=Money(open_intents=1)), "can still complete"),
        (replace(CANCELLED, stock_held=1), "units still reserved"),
        (replace(CANCELLED, read_model=OrderStatus.PAID), "the read model says PAID"),
        (replace(CANCELLED, events=("OrderCancelled", "OrderCancelled")), "terminal events"),
        (replace(CANCELLED, events=()), "terminal events none"),
        (replace(CANCELLED, notices=()), "told nothing"),
        (
            replace(CANCELLED, notices=(NotificationType.ORDER_CANCELLED,) * 2),
            "the customer was told",
        ),
        (replace(CONFIRMED, money=Money(captured=TOTAL, charges_taken=2)), "charged 2 times"),
        (replace(CONFIRMED, money=Money()), "0 kept on a CONFIRMED order"),
        (replace(CONFIRMED, money=Money(authorized=TOTAL)), "never captured"),
        (replace(CONFIRMED, stock_held=0), "units held by a CONFIRMED order"),
        (replace(CONFIRMED, saga_status=OrderStatus.PAID), "no ending"),
        (
            replace(CONFIRMED, saga_ended=False, saga_status=OrderStatus.PAYMENT_PENDING),
            "not for an operator",
        ),
        (
            replace(CONFIRMED, saga_ended=False, saga_status=OrderStatus.NEEDS_ATTENTION),
            "without the step",
        ),
    ],
)
def test_each_broken_rule_is_named(facts: OrderFacts, words: str) -> None:
    """Every rule of docs/invariants.md, broken alone, is reported in words that say which."""
    found = violations(facts)
    assert any(words in problem for problem in found), found


def test_a_refunded_order_keeps_what_was_not_given_back() -> None:
    """After an after-sale refund of one unit, the order keeps the rest of the money and
    the other unit; one OrderRefunded and one refund notice."""
    half = TOTAL / 2
    refunded = replace(
        CONFIRMED,
        saga_status=OrderStatus.REFUNDED,
        read_model=OrderStatus.REFUNDED,
        money=Money(captured=TOTAL, refunded=half, charges_taken=1),
        refunded_after_sale=half,
        units_returned=1,
        stock_held=1,
        events=(*CONFIRMED.events, "PaymentRefunded", "OrderRefunded"),
        notices=(NotificationType.ORDER_CONFIRMED, NotificationType.ORDER_REFUNDED),
    )
    assert violations(refunded) == []
    assert violations(replace(refunded, notices=(NotificationType.ORDER_CONFIRMED,)))


def test_a_parked_order_that_says_where_it_holds_has_not_broken_anything() -> None:
    """NEEDS_ATTENTION is the one state that waits without end, naming its step."""
    parked = replace(
        CONFIRMED,
        saga_ended=False,
        saga_status=OrderStatus.NEEDS_ATTENTION,
        waiting_step="compensate:refund",
    )
    assert violations(parked) == []
