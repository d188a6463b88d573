"""Stock: reserving, releasing and restocking, low-stock detection, all-or-nothing plans."""

from __future__ import annotations

import pytest

from models import (
    NEVER_REORDER,
    EventItem,
    InvalidQuantityError,
    InventoryItem,
    InventoryReleased,
    InventoryReserved,
    InventoryRestocked,
    LowStockDetected,
    OutOfStockError,
    ReorderPolicy,
    UnknownProductError,
    plan_reservation,
    release_all,
    reserve_all,
)


def stock_of(
    product_id: str = "sku-1", quantity: int = 10, reserved: int = 0, reorder_point: int = 3
) -> InventoryItem:
    return InventoryItem(
        product_id=product_id,
        quantity=quantity,
        reserved=reserved,
        reorder_policy=ReorderPolicy(reorder_point=reorder_point, reorder_quantity=20),
    )


def warehouse(*items: InventoryItem) -> dict[str, InventoryItem]:
    return {item.product_id: item for item in items}


def test_reserving_holds_units_without_taking_them_off_hand() -> None:
    """A reservation lowers what is available, not what is on hand."""
    item = stock_of(quantity=10)

    item.reserve(4)

    assert (item.quantity, item.reserved, item.available) == (10, 4, 6)


def test_reserving_more_than_available_is_refused_with_the_numbers() -> None:
    """Out of stock names the product, what was asked and what there is; nothing is held."""
    item = stock_of(quantity=10, reserved=8)

    with pytest.raises(OutOfStockError) as raised:
        item.reserve(3)

    assert (raised.value.product_id, raised.value.requested, raised.value.available) == (
        "sku-1",
        3,
        2,
    )
    assert str(raised.value) == "out of stock: sku-1 (requested 3, 2 available)"
    assert item.reserved == 8


def test_the_last_units_can_be_reserved() -> None:
    """Reserving exactly what is available succeeds and leaves none."""
    item = stock_of(quantity=2)
    item.reserve(2)
    assert item.available == 0


def test_reservation_that_crosses_reorder_point_detects_low_stock_once() -> None:
    """Reserving unit by unit, only the reservation that dips below the point alerts."""
    item = stock_of(quantity=10, reorder_point=3)

    events = [(item.available, item.reserve(1)) for _ in range(10)]

    alerts = [(before, found) for before, found in events if found]
    assert alerts == [
        (
            3,
            (
                LowStockDetected(
                    product_id="sku-1", available=2, reorder_point=3, reorder_quantity=20
                ),
            ),
        )
    ]


def test_reservation_that_lands_on_the_reorder_point_detects_nothing() -> None:
    """Stock at the point is not yet below it."""
    item = stock_of(quantity=10, reorder_point=3)
    assert item.reserve(7) == ()
    assert item.available == 3


def test_reservation_that_jumps_past_the_point_detects_low_stock() -> None:
    """A single large reservation that crosses the point alerts too."""
    item = stock_of(quantity=10, reorder_point=3)
    assert len(item.reserve(10)) == 1


def test_reservation_already_below_the_point_detects_nothing() -> None:
    """Stock that was low before the reservation raises no new alert."""
    item = stock_of(quantity=10, reserved=8, reorder_point=3)
    assert item.reserve(1) == ()


def test_release_above_the_point_rearms_low_stock_detection() -> None:
    """After stock recovers, the next dip is a new crossing and alerts again."""
    item = stock_of(quantity=10, reorder_point=3)
    assert item.reserve(8)
    item.release(8)
    assert item.reserve(8)


def test_a_product_without_reorder_policy_never_alerts() -> None:
    """NEVER_REORDER has a point of zero, which available stock never drops below."""
    item = InventoryItem(product_id="sku-1", quantity=5)
    assert item.reorder_policy == NEVER_REORDER
    assert item.reserve(5) == ()


def test_releasing_gives_back_held_units() -> None:
    """A release returns units to available and says how many."""
    item = stock_of(quantity=10, reserved=5)
    assert item.release(3) == 3
    assert (item.reserved, item.available) == (2, 8)


def test_releasing_more_than_is_held_stops_at_zero() -> None:
    """Held stock never goes negative; the count says what was really released."""
    item = stock_of(quantity=10, reserved=2)
    assert item.release(5) == 2
    assert item.reserved == 0
    assert item.release(1) == 0


def test_restocking_adds_units_on_hand_and_reports_the_new_level() -> None:
    """A restock raises on-hand stock and emits InventoryRestocked."""
    item = stock_of(quantity=10, reserved=4)

    restocked = item.restock(15)

    assert (item.quantity, item.available) == (25, 21)
    assert restocked == InventoryRestocked(
        product_id="sku-1", quantity_added=15, quantity_on_hand=25
    )
    assert restocked.aggregate_id == "sku-1"


@pytest.mark.parametrize("quantity", [0, -2])
@pytest.mark.parametrize("action", ["reserve", "release", "restock"])
def test_quantities_below_one_are_refused(action: str, quantity: int) -> None:
    """Reserving, releasing or restocking nothing (or less) is a bug upstream."""
    item = stock_of()
    with pytest.raises(InvalidQuantityError):
        getattr(item, action)(quantity)


@pytest.mark.parametrize("quantity", [1.0, True])
def test_quantities_must_be_ints(quantity: object) -> None:
    """A float or bool quantity is a type error, not one unit."""
    with pytest.raises(TypeError):
        stock_of().reserve(quantity)  # type: ignore[arg-type]


@pytest.mark.parametrize(("quantity", "reserved"), [(-1, 0), (5, -1), (5, 6)])
def test_stock_levels_must_be_consistent(quantity: int, reserved: int) -> None:
    """On hand and reserved are never negative, and no more is held than is on hand."""
    with pytest.raises(InvalidQuantityError):
        InventoryItem(product_id="sku-1", quantity=quantity, reserved=reserved)


def test_a_reorder_policy_cannot_be_negative() -> None:
    """Reorder points and quantities count units."""
    with pytest.raises(InvalidQuantityError):
        ReorderPolicy(reorder_point=-1, reorder_quantity=5)


def test_stock_items_are_the_same_entity_when_their_products_match() -> None:
    """An inventory item is identified by its product."""
    assert stock_of(quantity=1) == stock_of(quantity=9)
    assert stock_of("a") != stock_of("b")


def test_plan_accepts_an_order_that_fits_and_reserves_nothing() -> None:
    """A plan is a check only: it returns the lines and leaves stock untouched."""
    stock = warehouse(stock_of("a", 5), stock_of("b", 1))

    plan = plan_reservation(stock, [("a", 5), ("b", 1)])

    assert plan == (("a", 5), ("b", 1))
    assert stock["a"].reserved == stock["b"].reserved == 0


def test_plan_merges_repeated_products_before_checking() -> None:
    """Two lines of one product must fit together, not each on its own."""
    stock = warehouse(stock_of("a", 3))

    with pytest.raises(OutOfStockError) as raised:
        plan_reservation(stock, [("a", 2), ("a", 2)])

    assert (raised.value.requested, raised.value.available) == (4, 3)


def test_plan_reports_the_first_shortfall_in_order() -> None:
    """With several lines short, the first one asked for is the one explained."""
    stock = warehouse(stock_of("a", 5), stock_of("b", 1), stock_of("c", 0))

    with pytest.raises(OutOfStockError) as raised:
        plan_reservation(stock, [("a", 1), ("b", 2), ("c", 1)])

    assert (raised.value.product_id, raised.value.requested, raised.value.available) == (
        "b",
        2,
        1,
    )


def test_plan_refuses_a_product_the_inventory_does_not_hold() -> None:
    """An unknown product is its own error, not an out-of-stock."""
    with pytest.raises(UnknownProductError) as raised:
        plan_reservation(warehouse(stock_of("a")), [("a", 1), ("ghost", 1)])
    assert raised.value.product_id == "ghost"


def test_plan_refuses_a_line_for_nothing() -> None:
    """Each wanted quantity is at least one."""
    with pytest.raises(InvalidQuantityError):
        plan_reservation(warehouse(stock_of("a")), [("a", 0)])


def test_reserve_all_holds_every_line_and_reports_it() -> None:
    """All lines fit: each is held, with InventoryReserved and any low-stock alerts."""
    stock = warehouse(stock_of("a", 10, reorder_point=3), stock_of("b", 10, reorder_point=3))

    reservation = reserve_all(stock, [("a", 8), ("b", 2)], order_id="o-1")

    assert (stock["a"].reserved, stock["b"].reserved) == (8, 2)
    assert reservation.reserved == InventoryReserved(
        order_id="o-1", items=(EventItem("a", 8), EventItem("b", 2))
    )
    assert [alert.product_id for alert in reservation.low_stock] == ["a"]
    assert reservation.events == (reservation.reserved, *reservation.low_stock)


def test_reserve_all_is_all_or_nothing() -> None:
    """One short line means no line is held, even those that would have fitted."""
    stock = warehouse(stock_of("a", 10), stock_of("b", 1))

    with pytest.raises(OutOfStockError):
        reserve_all(stock, [("a", 5), ("b", 2)], order_id="o-1")

    assert stock["a"].reserved == stock["b"].reserved == 0


def test_release_all_gives_back_what_was_held_and_says_what() -> None:
    """A compensation releases each line; lines with nothing held are left out."""
    stock = warehouse(stock_of("a", 10, reserved=4), stock_of("b", 10, reserved=0))

    released = release_all(stock, [("a", 4), ("b", 2)], order_id="o-1")

    assert released == InventoryReleased(order_id="o-1", items=(EventItem("a", 4),))
    assert stock["a"].reserved == 0


def test_release_all_skips_unknown_products() -> None:
    """A compensation never fails on a product that cannot be held anyway."""
    released = release_all(warehouse(stock_of("a", reserved=1)), [("ghost", 1)], order_id="o-1")
    assert released.items == ()
