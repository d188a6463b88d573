"""Stock of one product, and reserving an order's lines across products all-or-nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from models._validate import require_count, require_text
from models.errors import (
    InvalidQuantityError,
    InvalidValueError,
    OutOfStockError,
    UnknownProductError,
)
from models.events import (
    DomainEvent,
    EventItem,
    InventoryReleased,
    InventoryReserved,
    InventoryRestocked,
    LowStockDetected,
)

__all__ = [
    "NEVER_REORDER",
    "InventoryItem",
    "ReorderPolicy",
    "Reservation",
    "plan_reservation",
    "release_all",
    "reserve_all",
]


@dataclass(frozen=True)
class ReorderPolicy:
    """Stock is low once fewer than ``reorder_point`` units are available; then buy
    ``reorder_quantity`` more."""

    reorder_point: int
    reorder_quantity: int

    def __post_init__(self) -> None:
        require_count(self.reorder_point, "reorder_point", InvalidQuantityError, minimum=0)
        require_count(self.reorder_quantity, "reorder_quantity", InvalidQuantityError, minimum=0)


# Available stock is never below zero, so a reorder point of zero never fires.
NEVER_REORDER = ReorderPolicy(reorder_point=0, reorder_quantity=0)


@dataclass(eq=False, kw_only=True)
class InventoryItem:
    """One product's stock: ``quantity`` on hand, of which ``reserved`` is held for orders."""

    product_id: str
    quantity: int
    reserved: int = 0
    reorder_policy: ReorderPolicy = NEVER_REORDER

    def __post_init__(self) -> None:
        require_text(self.product_id, "product_id", InvalidValueError)
        require_count(self.quantity, "quantity on hand", InvalidQuantityError, minimum=0)
        require_count(self.reserved, "reserved quantity", InvalidQuantityError, minimum=0)
        if self.reserved > self.quantity:
            raise InvalidQuantityError(
                f"{self.product_id}: reserved {self.reserved} exceeds {self.quantity} on hand"
            )

    @property
    def available(self) -> int:
        return self.quantity - self.reserved

    @property
    def is_low(self) -> bool:
        return self.available < self.reorder_policy.reorder_point

    def can_reserve(self, quantity: int) -> bool:
        return quantity <= self.available

    def reserve(self, quantity: int) -> tuple[LowStockDetected, ...]:
        """Hold ``quantity`` units; LowStockDetected only if this drops stock below the
        reorder point, so one dip raises one alert however many orders follow it."""
        require_count(quantity, f"quantity of {self.product_id} to reserve", InvalidQuantityError)
        if not self.can_reserve(quantity):
            raise OutOfStockError(self.product_id, quantity, self.available)
        was_low = self.is_low
        self.reserved += quantity
        if self.is_low and not was_low:
            return (
                LowStockDetected(
                    product_id=self.product_id,
                    available=self.available,
                    reorder_point=self.reorder_policy.reorder_point,
                    reorder_quantity=self.reorder_policy.reorder_quantity,
                ),
            )
        return ()

    def release(self, quantity: int) -> int:
        """Give back up to ``quantity`` held units; returns how many were released.

        Clamped rather than refused: held stock must never go negative and a compensation
        must always finish. The count is for the product across all orders, so releasing
        only what one order holds, once, is the caller's job (per-order reservation rows).
        """
        require_count(quantity, f"quantity of {self.product_id} to release", InvalidQuantityError)
        released = min(quantity, self.reserved)
        self.reserved -= released
        return released

    def restock(self, quantity: int, restock_id: str | None = None) -> InventoryRestocked:
        require_count(quantity, f"quantity of {self.product_id} to restock", InvalidQuantityError)
        self.quantity += quantity
        return InventoryRestocked(
            product_id=self.product_id,
            quantity_added=quantity,
            quantity_on_hand=self.quantity,
            restock_id=restock_id,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InventoryItem) and other.product_id == self.product_id

    def __hash__(self) -> int:
        return hash(self.product_id)


def _merge(wanted: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    totals: dict[str, int] = {}
    for product_id, quantity in wanted:
        require_text(product_id, "product_id", InvalidValueError)
        require_count(quantity, f"quantity of {product_id}", InvalidQuantityError)
        totals[product_id] = totals.get(product_id, 0) + quantity
    return tuple(totals.items())


def plan_reservation(
    stock: Mapping[str, InventoryItem], wanted: Iterable[tuple[str, int]]
) -> tuple[tuple[str, int], ...]:
    """Check that every line of ``wanted`` fits, without reserving anything.

    Returns the lines merged per product (first appearance first). Raises for the first
    line, in that order, that does not fit: UnknownProductError if ``stock`` has no such
    product, OutOfStockError (with requested and available) if it has too few.
    """
    plan = _merge(wanted)
    for product_id, quantity in plan:
        item = stock.get(product_id)
        if item is None:
            raise UnknownProductError(product_id)
        if not item.can_reserve(quantity):
            raise OutOfStockError(product_id, quantity, item.available)
    return plan


@dataclass(frozen=True)
class Reservation:
    reserved: InventoryReserved
    low_stock: tuple[LowStockDetected, ...]

    @property
    def events(self) -> tuple[DomainEvent, ...]:
        return (self.reserved, *self.low_stock)


def reserve_all(
    stock: Mapping[str, InventoryItem], wanted: Iterable[tuple[str, int]], *, order_id: str
) -> Reservation:
    """Reserve every line for ``order_id``, or nothing: a shortfall raises before any
    item is touched (see plan_reservation)."""
    require_text(order_id, "order_id", InvalidValueError)
    plan = plan_reservation(stock, wanted)
    low_stock: list[LowStockDetected] = []
    for product_id, quantity in plan:
        low_stock.extend(stock[product_id].reserve(quantity))
    reserved = InventoryReserved(
        order_id=order_id, items=tuple(EventItem(pid, quantity) for pid, quantity in plan)
    )
    return Reservation(reserved=reserved, low_stock=tuple(low_stock))


def release_all(
    stock: Mapping[str, InventoryItem], lines: Iterable[tuple[str, int]], *, order_id: str
) -> InventoryReleased:
    """Release what ``order_id`` holds of each line; the event lists what was released.

    A product missing from ``stock`` is skipped rather than refused: nothing of it can be
    held, and a compensation that can never succeed would be retried forever.
    """
    require_text(order_id, "order_id", InvalidValueError)
    released: list[EventItem] = []
    for product_id, quantity in _merge(lines):
        item = stock.get(product_id)
        if item is None:
            continue
        count = item.release(quantity)
        if count:
            released.append(EventItem(product_id, count))
    return InventoryReleased(order_id=order_id, items=tuple(released))
