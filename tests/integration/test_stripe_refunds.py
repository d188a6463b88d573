"""After-sale refunds through the Stripe adapter, on PostgreSQL and the Stripe double: an
order's money is given back at most once, also when the refund is asked again after Stripe
has forgotten its idempotency keys (24 hours) or with other lines, and a whole refund
whose money is already back is recorded, not refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from activities.notifications import NotificationActivities
from activities.payments import PaymentActivities
from activities.refunds import RefundPayments
from devstack.stripe_double import StripeDouble
from gateways.notification_channels import LogChannel
from gateways.payment_gateway import ChargeStatus
from messages.activities import NotifyCustomerInput
from messages.refund import RefundLine, RefundMoneyInput, refund_idempotency_key
from messages.saga import OrderSnapshot
from models import Money
from tests.integration.saga_data import Sessions, event_types, order_of
from tests.integration.test_payment_activities import charge_of, payment_row, reserved_order
from tests.integration.test_stripe_payments import DAY_AND_AN_HOUR, gateway_on

pytestmark = pytest.mark.integration

FOUR = Money.of("4.00", "EUR")


async def confirmed_order(sessions: Sessions, double: StripeDouble) -> tuple[OrderSnapshot, str]:
    """An order CONFIRMED with 25.00 EUR captured at Stripe, and the intent's id."""
    order = await reserved_order(sessions, token="pm_card_visa")
    paid = await PaymentActivities(sessions, gateway_on(double, sessions)).charge_payment(
        charge_of(order)
    )
    await NotificationActivities(sessions, LogChannel()).notify_customer(
        NotifyCustomerInput(
            order=order, notification_type="ORDER_CONFIRMED", conclude_status="CONFIRMED"
        )
    )
    assert paid.gateway_reference is not None
    return order, paid.gateway_reference


def refund_of(order: OrderSnapshot, amount: str) -> RefundMoneyInput:
    line = order.lines[0]
    return RefundMoneyInput(
        order_id=order.order_id,
        amount=Decimal(amount),
        currency="EUR",
        lines=[RefundLine(product_id=line.product_id, quantity=1)],
        reason="returned",
        actor="ops-1",
    )


def refunds_at_stripe(double: StripeDouble, intent_id: str) -> list[int]:
    return [refund["amount"] for refund in double.state.ledger.refunds_of(intent_id)]


async def test_a_partial_refund_retried_after_stripe_forgot_its_key_refunds_once(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """The adapter finds the refund its key made among the intent's refunds (its
    metadata names the key), so a retry 25 hours later answers with it."""
    gateway = gateway_on(stripe_double, pg_sessions)
    charge = await gateway.charge(
        "order-p1", Money.of("10.00", "EUR"), "pm_card_visa", capture=True
    )

    first = await gateway.refund(charge.reference, FOUR, idempotency_key="refund-p1")
    stripe_double.state.clock.advance(DAY_AND_AN_HOUR)
    again = await gateway.refund(charge.reference, FOUR, idempotency_key="refund-p1")

    assert again.status is ChargeStatus.CAPTURED
    assert again.refund_reference == first.refund_reference
    assert refunds_at_stripe(stripe_double, charge.reference) == [400]


async def test_a_whole_order_refund_retried_after_a_day_is_recorded_not_refused(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """The first attempt refunded the whole order and lost its record; its retry comes
    after Stripe forgot the key. The order ends REFUNDED with that one refund, instead of
    staying CONFIRMED with its money already back."""
    order, intent_id = await confirmed_order(pg_sessions, stripe_double)
    gateway = gateway_on(stripe_double, pg_sessions)
    lost = await gateway.refund(
        intent_id,
        Money.of("25.00", "EUR"),
        idempotency_key=refund_idempotency_key(order.order_id),
    )
    stripe_double.state.clock.advance(DAY_AND_AN_HOUR)

    result = await RefundPayments(pg_sessions, gateway).refund_order_payment(
        refund_of(order, "25.00")
    )

    assert (result.amount, result.refund_reference) == (Decimal("25.00"), lost.refund_reference)
    assert refunds_at_stripe(stripe_double, intent_id) == [2500]
    recorded = await order_of(pg_sessions, order.order_id)
    assert recorded is not None
    assert recorded.status == "REFUNDED"
    row = await payment_row(pg_sessions, order.order_id)
    assert row is not None
    assert row.status == "REFUNDED"


async def test_a_refund_asked_again_with_other_lines_gives_nothing_more_back(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """A refund workflow that failed after Stripe refunded 4.00 is started again for other
    lines (12.50): the order's one refund already exists, so nothing more is refunded and
    what Stripe really gave back (4.00) is recorded."""
    order, intent_id = await confirmed_order(pg_sessions, stripe_double)
    gateway = gateway_on(stripe_double, pg_sessions)
    lost = await gateway.refund(
        intent_id, FOUR, idempotency_key=refund_idempotency_key(order.order_id)
    )

    result = await RefundPayments(pg_sessions, gateway).refund_order_payment(
        refund_of(order, "12.50")
    )

    assert (result.amount, result.refund_reference) == (Decimal("4.00"), lost.refund_reference)
    assert refunds_at_stripe(stripe_double, intent_id) == [400]
    recorded = await order_of(pg_sessions, order.order_id)
    assert recorded is not None
    assert recorded.status == "REFUNDED"
    assert (await event_types(pg_sessions, order.order_id))[-2:] == [
        "PaymentRefunded",
        "OrderRefunded",
    ]
