"""The inventory activities on a real PostgreSQL: all-or-nothing, race-free, idempotent.

Activities are plain async methods here; calling one twice with the same input stands in
for Temporal redelivering it after a crash between the commit and the reply.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import col, select
from temporalio.exceptions import ApplicationError

from activities.inventory import InventoryActivities
from config.settings import RestockSettings
from messages import errors
from messages.activities import ReleaseInventoryInput, ReserveInventoryInput
from messages.restock import LowStock, RestockInventoryInput
from persistence.tables import InventoryReservationRow
from tests.integration.saga_data import (
    Sessions,
    add_product,
    event_types,
    events_named,
    order_of,
    snapshot,
    stock_of,
)

pytestmark = pytest.mark.integration

RESTOCK = RestockSettings(lead_time_seconds=90.0, admin_email="buyers@example.com")


@pytest.fixture
def inventory(pg_sessions: Sessions) -> InventoryActivities:
    return InventoryActivities(pg_sessions, RESTOCK)


def reserve(*lines: tuple[str, int]) -> ReserveInventoryInput:
    return ReserveInventoryInput(order=snapshot(*lines))


async def test_reserves_every_line_and_records_the_order(
    pg_sessions: Sessions, inventory: InventoryActivities
) -> None:
    """The order is recorded and RESERVED, each product holds its line, and the order's
    timeline reads OrderCreated then InventoryReserved."""
    await add_product(pg_sessions, "sku-a", 10)
    await add_product(pg_sessions, "sku-b", 3)
    arg = reserve(("sku-a", 2), ("sku-b", 3), ("sku-a", 1))

    result = await inventory.reserve_inventory(arg)

    assert result.reserved == {"sku-a": 3, "sku-b": 3}
    assert result.restocks_needed == []
    assert (await stock_of(pg_sessions, "sku-a")).reserved == 3
    assert (await stock_of(pg_sessions, "sku-b")).reserved == 3
    order = await order_of(pg_sessions, arg.order.order_id)
    assert order is not None
    assert order.status == "RESERVED"
    assert await event_types(pg_sessions, arg.order.order_id) == [
        "OrderCreated",
        "InventoryReserved",
    ]


async def test_one_short_line_reserves_nothing_and_is_refused_again_on_retry(
    pg_sessions: Sessions, inventory: InventoryActivities
) -> None:
    """A shortfall on any line rolls back every line; the refusal is recorded with the
    order, and a retry raises OUT_OF_STOCK again even once stock has arrived."""
    await add_product(pg_sessions, "sku-plenty", 10)
    await add_product(pg_sessions, "sku-scarce", 1)
    arg = reserve(("sku-plenty", 2), ("sku-scarce", 2))

    with pytest.raises(ApplicationError) as refused:
        await inventory.reserve_inventory(arg)
    assert refused.value.type == errors.OUT_OF_STOCK
    assert refused.value.non_retryable
    assert "sku-scarce" in refused.value.message

    assert (await stock_of(pg_sessions, "sku-plenty")).reserved == 0
    assert (await stock_of(pg_sessions, "sku-scarce")).reserved == 0
    order = await order_of(pg_sessions, arg.order.order_id)
    assert order is not None
    assert order.status == "PENDING"
    assert await event_types(pg_sessions, arg.order.order_id) == [
        "OrderCreated",
        "InventoryReservationFailed",
    ]

    await inventory.restock_inventory(
        RestockInventoryInput(product_id="sku-scarce", quantity=5, restock_id="r-1")
    )
    with pytest.raises(ApplicationError) as again:
        await inventory.reserve_inventory(arg)
    assert again.value.type == errors.OUT_OF_STOCK
    assert again.value.message == refused.value.message
    assert (await stock_of(pg_sessions, "sku-plenty")).reserved == 0
    assert (await stock_of(pg_sessions, "sku-scarce")).reserved == 0
    assert len(await events_named(pg_sessions, "InventoryReservationFailed")) == 1


async def test_twenty_orders_racing_for_five_units_never_oversell(
    pg_sessions: Sessions, inventory: InventoryActivities
) -> None:
    """Twenty concurrent reservations of one unit each, five units in stock: exactly five
    succeed, the rest are OUT_OF_STOCK, and reserved never exceeds what is on hand."""
    await add_product(pg_sessions, "sku-last-five", 5)
    args = [reserve(("sku-last-five", 1)) for _ in range(20)]

    outcomes = await asyncio.gather(
        *(inventory.reserve_inventory(arg) for arg in args), return_exceptions=True
    )

    won = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
    lost = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert len(won) == 5
    assert len(lost) == 15
    assert all(
        isinstance(error, ApplicationError) and error.type == errors.OUT_OF_STOCK for error in lost
    )
    stock = await stock_of(pg_sessions, "sku-last-five")
    assert (stock.quantity, stock.reserved) == (5, 5)
    async with pg_sessions() as session:
        rows = (await session.exec(select(InventoryReservationRow))).all()
    assert sorted(row.order_id for row in rows) == sorted(result.order_id for result in won)


async def test_reserving_twice_with_the_same_input_reserves_once(
    pg_sessions: Sessions, inventory: InventoryActivities
) -> None:
    """A redelivered reservation answers with the recorded result and holds no more stock."""
    await add_product(pg_sessions, "sku-once", 10)
    arg = reserve(("sku-once", 4))

    first = await inventory.reserve_inventory(arg)
    second = await inventory.reserve_inventory(arg)

    assert second == first
    assert (await stock_of(pg_sessions, "sku-once")).reserved == 4
    assert await event_types(pg_sessions, arg.order.order_id) == [
        "OrderCreated",
        "InventoryReserved",
    ]


async def test_an_unknown_product_is_refused_and_nothing_is_written(
    pg_sessions: Sessions, inventory: InventoryActivities
) -> None:
    """A line naming no product raises UNKNOWN_PRODUCT (not retried) and records nothing."""
    await add_product(pg_sessions, "sku-real", 10)
    arg = reserve(("sku-real", 1), ("sku-imaginary", 1))

    with pytest.raises(ApplicationError) as refused:
        await inventory.reserve_inventory(arg)

    assert refused.value.type == errors.UNKNOWN_PRODUCT
    assert refused.value.non_retryable
    assert await order_of(pg_sessions, arg.order.order_id) is None
    assert (await stock_of(pg_sessions, "sku-real")).reserved == 0


async def test_releasing_twice_releases_once(
    pg_sessions: Sessions, inventory: InventoryActivities
) -> None:
    """Release gives back what the order held once; a redelivery reports the same release
    and the stock of other orders is untouched."""
    await add_product(pg_sessions, "sku-held", 10)
    mine = reserve(("sku-held", 3))
    other = reserve(("sku-held", 2))
    await inventory.reserve_inventory(mine)
    await inventory.reserve_inventory(other)
    release = ReleaseInventoryInput(order_id=mine.order.order_id, reason="payment declined")

    first = await inventory.release_inventory(release)
    second = await inventory.release_inventory(release)

    assert first.released == {"sku-held": 3}
    assert second == first
    assert (await stock_of(pg_sessions, "sku-held")).reserved == 2
    assert await event_types(pg_sessions, mine.order.order_id) == [
        "OrderCreated",
        "InventoryReserved",
        "InventoryReleased",
    ]
    async with pg_sessions() as session:
        rows = (
            await session.exec(
                select(InventoryReservationRow).where(
                    col(InventoryReservationRow.order_id) == mine.order.order_id
                )
            )
        ).all()
    assert [(row.status, row.released_at is not None) for row in rows] == [("RELEASED", True)]


async def test_releasing_an_order_that_holds_nothing_is_a_no_op(
    inventory: InventoryActivities,
) -> None:
    """An order refused (or never reserved) has nothing to give back."""
    result = await inventory.release_inventory(
        ReleaseInventoryInput(order_id="never-reserved", reason="cancelled")
    )
    assert result.released == {}


async def test_crossing_the_reorder_point_asks_for_one_restock(
    pg_sessions: Sessions, inventory: InventoryActivities
) -> None:
    """Only the reservation that takes available stock below the reorder point returns a
    restock (with the configured lead time and admin), also when it is redelivered; the
    reservations after it, already low, return none."""
    await add_product(pg_sessions, "sku-popular", 10, reorder_point=5, reorder_quantity=20)
    above = reserve(("sku-popular", 4))
    crossing = reserve(("sku-popular", 2))
    below = reserve(("sku-popular", 1))

    assert (await inventory.reserve_inventory(above)).restocks_needed == []
    crossed = await inventory.reserve_inventory(crossing)
    assert (await inventory.reserve_inventory(below)).restocks_needed == []

    assert len(crossed.restocks_needed) == 1
    restock = crossed.restocks_needed[0]
    assert restock.low_stock == LowStock(
        product_id="sku-popular", available=4, reorder_point=5, reorder_quantity=20
    )
    assert restock.lead_time_seconds == 90.0
    assert restock.admin_email == "buyers@example.com"
    assert (await inventory.reserve_inventory(crossing)).restocks_needed == [restock]
    assert len(await events_named(pg_sessions, "LowStockDetected")) == 1


async def test_a_restock_is_applied_once_per_restock_id(
    pg_sessions: Sessions, inventory: InventoryActivities
) -> None:
    """The same restock delivered twice adds its units once; another restock adds again."""
    await add_product(pg_sessions, "sku-restocked", 3)
    first = RestockInventoryInput(product_id="sku-restocked", quantity=20, restock_id="run-1")

    applied = await inventory.restock_inventory(first)
    repeated = await inventory.restock_inventory(first)
    later = await inventory.restock_inventory(first.model_copy(update={"restock_id": "run-2"}))

    assert (applied.quantity_on_hand, applied.applied) == (23, True)
    assert repeated == applied
    assert later.quantity_on_hand == 43
    assert (await stock_of(pg_sessions, "sku-restocked")).quantity == 43
    restocked = await events_named(pg_sessions, "InventoryRestocked")
    assert [event.event_data["restock_id"] for event in restocked] == ["run-1", "run-2"]


async def test_restocking_an_unknown_product_is_refused(inventory: InventoryActivities) -> None:
    """There is no stock row to add to: UNKNOWN_PRODUCT, not retried."""
    with pytest.raises(ApplicationError) as refused:
        await inventory.restock_inventory(
            RestockInventoryInput(product_id="sku-nowhere", quantity=1, restock_id="run-1")
        )
    assert refused.value.type == errors.UNKNOWN_PRODUCT
    assert refused.value.non_retryable
