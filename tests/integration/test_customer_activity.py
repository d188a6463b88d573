"""Spend limits on a real PostgreSQL: the reservation reads the customer's activity in its
own transaction, and the review's hold and approval are recorded once each."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlmodel import col

from activities.inventory import InventoryActivities
from activities.order_status import OrderStatusActivities
from config.settings import RestockSettings
from messages.activities import RecordOrderStatusInput, ReserveInventoryInput
from messages.saga import OrderSnapshot
from models.risk import CustomerActivity
from persistence.tables import OrderRow
from tests.integration.saga_data import PLACED_AT, Sessions, add_product, event_types, snapshot

pytestmark = pytest.mark.integration


def _placed(customer: str, price: str, before: timedelta) -> OrderSnapshot:
    order = snapshot(("sku-risk", 1), price=price)
    return order.model_copy(update={"customer_id": customer, "placed_at": PLACED_AT - before})


async def _end(sessions: Sessions, order_id: str, status: str) -> None:
    async with sessions() as session, session.begin():
        await session.exec(
            update(OrderRow).where(col(OrderRow.id) == order_id).values(status=status)
        )


async def test_the_reservation_reads_the_customers_spend_and_orders_of_the_last_hour(
    pg_sessions: Sessions,
) -> None:
    """Spend: the customer's other orders within the window that did not end without a
    sale; the hour counts every order placed in it. Older orders, later ones and other
    customers' do not count; a retried reservation reads the same."""
    await add_product(pg_sessions, "sku-risk", 100)
    inventory = InventoryActivities(pg_sessions, RestockSettings())
    customer = f"customer-{uuid.uuid4()}"
    earlier = {
        "kept": _placed(customer, "100.00", timedelta(hours=2)),
        "cancelled": _placed(customer, "50.00", timedelta(minutes=30)),
        "recent": _placed(customer, "7.00", timedelta(minutes=10)),
        "too old": _placed(customer, "1000.00", timedelta(hours=30)),
        "later": _placed(customer, "300.00", -timedelta(minutes=5)),
        "someone else's": _placed(f"other-{uuid.uuid4()}", "900.00", timedelta(hours=1)),
    }
    for order in earlier.values():
        await inventory.reserve_inventory(ReserveInventoryInput(order=order))
    await _end(pg_sessions, earlier["cancelled"].order_id, "CANCELLED")
    this = _placed(customer, "10.00", timedelta(0))
    asked = ReserveInventoryInput(order=this, spend_window_hours=24)

    first = await inventory.reserve_inventory(asked)
    again = await inventory.reserve_inventory(asked)
    unasked = await inventory.reserve_inventory(ReserveInventoryInput(order=this))

    expected = CustomerActivity(recent_spend=Decimal("107.00"), orders_last_hour=2)
    assert first.customer_activity == expected
    assert again.customer_activity == expected
    assert unasked.customer_activity is None


async def test_a_review_is_held_once_and_approved_by_its_operator(
    pg_sessions: Sessions,
) -> None:
    """IN_REVIEW with OrderHeldForReview (the reasons kept on the row), once; the approval
    back to RESERVED with OrderReviewApproved; a hold that lands after it holds nothing."""
    await add_product(pg_sessions, "sku-risk", 10)
    order = snapshot(("sku-risk", 1))
    await InventoryActivities(pg_sessions, RestockSettings()).reserve_inventory(
        ReserveInventoryInput(order=order)
    )
    statuses = OrderStatusActivities(pg_sessions)
    hold = RecordOrderStatusInput(
        order=order, status="IN_REVIEW", step="review", reasons=["order amount over"]
    )
    held = await statuses.record_order_status(hold)
    await statuses.record_order_status(hold)
    approved = await statuses.record_order_status(
        RecordOrderStatusInput(
            order=order, status="RESERVED", step="review", actor="alice", note="known"
        )
    )
    late = await statuses.record_order_status(hold)

    assert held.status == "IN_REVIEW"
    assert approved.status == "RESERVED"
    assert late.status == "RESERVED"
    assert await event_types(pg_sessions, order.order_id) == [
        "OrderCreated",
        "InventoryReserved",
        "OrderHeldForReview",
        "OrderReviewApproved",
    ]
