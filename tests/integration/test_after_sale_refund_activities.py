"""The after-sale refund's activities on PostgreSQL: the money given back once with the
order REFUNDED, and the returned goods put back in stock once, never more than the order
holds."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import col, select

from activities.notifications import NotificationActivities
from activities.payments import PaymentActivities
from activities.refunds import RefundPayments, StockReturns
from gateways.notification_channels import LogChannel
from gateways.simulated_payment import SimulatedPaymentGateway
from messages.activities import NotifyCustomerInput
from messages.refund import RefundLine, RefundMoneyInput, ReturnStockInput
from messages.saga import OrderSnapshot
from persistence.tables import InventoryReservationRow
from tests.integration.saga_data import Sessions, event_types, order_of, stock_of
from tests.integration.test_payment_activities import charge_of, payment_row, reserved_order

pytestmark = pytest.mark.integration


async def confirmed_order(sessions: Sessions, gateway: SimulatedPaymentGateway) -> OrderSnapshot:
    """Two units of one product, 25.00 EUR captured, the order CONFIRMED."""
    order = await reserved_order(sessions)
    await PaymentActivities(sessions, gateway).charge_payment(charge_of(order))
    await NotificationActivities(sessions, LogChannel()).conclude_order(
        NotifyCustomerInput(
            order=order, notification_type="ORDER_CONFIRMED", conclude_status="CONFIRMED"
        )
    )
    return order


def returned(order: OrderSnapshot, *quantities: int) -> list[RefundLine]:
    sku = order.lines[0].product_id
    return [RefundLine(product_id=sku, quantity=quantity) for quantity in quantities]


async def reservation_of(sessions: Sessions, order_id: str) -> InventoryReservationRow:
    async with sessions() as session:
        statement = select(InventoryReservationRow).where(
            col(InventoryReservationRow.order_id) == order_id
        )
        return (await session.exec(statement)).one()


async def test_a_refund_makes_the_order_refunded_once_with_its_events(
    pg_sessions: Sessions,
) -> None:
    gateway = SimulatedPaymentGateway()
    order = await confirmed_order(pg_sessions, gateway)
    refunds = RefundPayments(pg_sessions, gateway)
    ask = RefundMoneyInput(
        order_id=order.order_id,
        amount=Decimal("12.50"),
        currency="EUR",
        lines=returned(order, 1),
        reason="damaged",
        actor="ops-alice",
    )

    first = await refunds.refund_order_payment(ask)
    again = await refunds.refund_order_payment(ask)

    assert again == first
    recorded = await order_of(pg_sessions, order.order_id)
    assert recorded is not None
    assert (recorded.status, recorded.failure_reason) == ("REFUNDED", "damaged")
    payment = await payment_row(pg_sessions, order.order_id)
    assert payment is not None
    # Some lines given back: the payment stays CAPTURED, the refund recorded on it.
    assert payment.status == "CAPTURED"
    assert payment.refund_reference == first.refund_reference
    assert payment.refunded_at is not None
    timeline = await event_types(pg_sessions, order.order_id)
    assert timeline.count("OrderRefunded") == 1
    assert timeline.count("PaymentRefunded") == 1


async def test_returned_units_go_back_once_and_never_more_than_were_held(
    pg_sessions: Sessions,
) -> None:
    """Two lines for one product asking back 1 and 5 units of the 2 held: 2 go back, the
    line is released, and a retry answers the same without giving back more."""
    order = await confirmed_order(pg_sessions, SimulatedPaymentGateway())
    sku = order.lines[0].product_id
    returns = StockReturns(pg_sessions)
    ask = ReturnStockInput(order_id=order.order_id, lines=returned(order, 1, 5))

    first = await returns.return_stock(ask)
    again = await returns.return_stock(ask)

    assert first.returned == {sku: 2}
    assert again == first
    assert (await stock_of(pg_sessions, sku)).reserved == 0
    line = await reservation_of(pg_sessions, order.order_id)
    assert (line.status, line.released_at is not None) == ("RELEASED", True)
    assert (await event_types(pg_sessions, order.order_id)).count("InventoryReturned") == 1


async def test_returning_some_units_keeps_the_rest_of_the_line_held(
    pg_sessions: Sessions,
) -> None:
    order = await confirmed_order(pg_sessions, SimulatedPaymentGateway())
    sku = order.lines[0].product_id

    result = await StockReturns(pg_sessions).return_stock(
        ReturnStockInput(order_id=order.order_id, lines=returned(order, 1))
    )

    assert result.returned == {sku: 1}
    assert (await stock_of(pg_sessions, sku)).reserved == 1
    line = await reservation_of(pg_sessions, order.order_id)
    assert (line.status, line.quantity, line.released_at) == ("RESERVED", 1, None)
