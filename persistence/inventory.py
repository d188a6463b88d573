"""Stock and reservations as stored: conditional updates that cannot oversell, and what
an earlier attempt of a reservation recorded.

Stock is never read, changed in Python and written back: each change is one UPDATE whose
WHERE re-checks availability on the latest committed row (PostgreSQL re-evaluates it after
waiting for a concurrent writer's lock), so racing orders cannot take the same unit. The
domain (``models.inventory``) is then replayed on the stock as it was, to say what the
reservation means (which products crossed their reorder point).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Integer, bindparam, case, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from models import (
    EventItem,
    InventoryItem,
    InventoryReleased,
    OutOfStockError,
    ReorderPolicy,
    UnknownProductError,
)
from persistence.batch import Batch, run
from persistence.bound import Bound, Write, param
from persistence.tables import (
    RESERVATION_RELEASED,
    RESERVATION_RESERVED,
    InventoryReservationRow,
    InventoryRow,
    utc_now,
)

__all__ = [
    "Holding",
    "add_reservations",
    "give_back",
    "holdings",
    "load_item",
    "mark_released",
    "reserved_lines",
    "shortfall",
    "take",
    "update_quantity",
]

_STOCK = InventoryRow.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped
_RESERVATIONS = InventoryReservationRow.__table__  # type: ignore[attr-defined]


_TAKE = (
    update(_STOCK)
    .where(
        _STOCK.c.product_id == bindparam("b_product_id"),
        _STOCK.c.quantity - _STOCK.c.reserved >= bindparam("b_quantity", type_=Integer()),
    )
    .values(
        reserved=_STOCK.c.reserved + bindparam("b_quantity", type_=Integer()),
        updated_at=bindparam("b_now", type_=_STOCK.c.updated_at.type),
    )
    .returning(
        _STOCK.c.quantity, _STOCK.c.reserved, _STOCK.c.reorder_point, _STOCK.c.reorder_quantity
    )
)


async def take(session: AsyncSession, product_id: str, quantity: int) -> InventoryItem | None:
    """Hold ``quantity`` units if that many are available; the stock as it was *before*
    (so the domain can tell whether this reservation crossed the reorder point), or None
    when too few units are available or the product has no stock row."""
    values = {"b_product_id": product_id, "b_quantity": quantity, "b_now": utc_now()}
    row = (await run(session, _TAKE, values)).one_or_none()
    if row is None:
        return None
    return InventoryItem(
        product_id=product_id,
        quantity=row.quantity,
        reserved=row.reserved - quantity,
        reorder_policy=ReorderPolicy(row.reorder_point, row.reorder_quantity),
    )


async def load_item(session: AsyncSession, product_id: str) -> InventoryItem | None:
    """The product's stock, its row locked until commit (None: no such product)."""
    row = (
        await run(
            session,
            select(
                _STOCK.c.quantity,
                _STOCK.c.reserved,
                _STOCK.c.reorder_point,
                _STOCK.c.reorder_quantity,
            )
            .where(_STOCK.c.product_id == product_id)
            .with_for_update(),
        )
    ).one_or_none()
    if row is None:
        return None
    return InventoryItem(
        product_id=product_id,
        quantity=row.quantity,
        reserved=row.reserved,
        reorder_policy=ReorderPolicy(row.reorder_point, row.reorder_quantity),
    )


def update_quantity(batch: Batch, item: InventoryItem) -> None:
    """Write the units on hand the domain counted (a restock) under the row's lock."""
    batch.add(
        update(_STOCK)
        .where(_STOCK.c.product_id == item.product_id)
        .values(quantity=item.quantity, updated_at=utc_now())
    )


async def shortfall(
    session: AsyncSession, product_id: str, quantity: int
) -> OutOfStockError | UnknownProductError:
    """Why ``take`` refused: the product is unknown, or how many units were available."""
    row = (
        await run(
            session,
            select(_STOCK.c.quantity, _STOCK.c.reserved).where(_STOCK.c.product_id == product_id),
        )
    ).one_or_none()
    if row is None:
        return UnknownProductError(product_id)
    return OutOfStockError(product_id, quantity, row.quantity - row.reserved)


def add_reservations(batch: Batch, order_id: str, lines: Sequence[tuple[str, int]]) -> None:
    """One row per (order, product): what this order holds, so it is released once."""
    now = utc_now()
    # A row per statement: a multi-row VALUES is never in SQLAlchemy's compiled cache.
    batch.add(
        *(
            Bound(
                _insert_reservation,
                {
                    "order_id": order_id,
                    "product_id": product_id,
                    "quantity": quantity,
                    "created_at": now,
                },
            )
            for product_id, quantity in lines
        )
    )


@functools.cache
def _insert_reservation(prefix: str) -> Write:
    names = ("order_id", "product_id", "quantity", "created_at")
    values = {name: param(prefix, name) for name in names}
    return insert(_RESERVATIONS).values(**values, status=RESERVATION_RESERVED)


@dataclass(frozen=True)
class Holding:
    """One line of an order's reservation: ``held`` until released."""

    product_id: str
    quantity: int
    held: bool


async def holdings(session: AsyncSession, order_id: str) -> list[Holding]:
    """The order's reservation lines in product order, locked until commit."""
    rows = await run(
        session,
        select(_RESERVATIONS.c.product_id, _RESERVATIONS.c.quantity, _RESERVATIONS.c.status)
        .where(_RESERVATIONS.c.order_id == order_id)
        .order_by(_RESERVATIONS.c.product_id)
        .with_for_update(),
    )
    return [
        Holding(row.product_id, row.quantity, row.status == RESERVATION_RESERVED) for row in rows
    ]


async def give_back(session: AsyncSession, lines: Sequence[tuple[str, int]]) -> None:
    """Return held units, clamped at zero as the domain's release is (a compensation must
    always finish, and the CHECK would refuse a negative count). One product at a time in
    the order given (product order), as reservations take them: no deadlock between the two.
    """
    reserved = _STOCK.c.reserved
    for product_id, quantity in lines:
        await run(
            session,
            update(_STOCK)
            .where(_STOCK.c.product_id == product_id)
            .values(
                reserved=case((reserved >= quantity, reserved - quantity), else_=0),
                updated_at=utc_now(),
            ),
        )


async def release_held(
    session: AsyncSession, batch: Batch, order_id: str, lines: Sequence[Holding]
) -> dict[str, int]:
    """Give back every unit of ``lines`` (the order's holdings) still held and mark them
    released, with InventoryReleased in ``batch``; {} when nothing is held. The caller holds
    the order's lock, so a reservation of the same order takes turns with this."""
    held = [(line.product_id, line.quantity) for line in lines if line.held]
    if not held:
        return {}
    await give_back(session, held)
    mark_released(batch, order_id)
    event = InventoryReleased(
        order_id=order_id,
        items=tuple(EventItem(product_id, quantity) for product_id, quantity in held),
    )
    batch.add_events([event], utc_now())
    return dict(held)


def mark_released(batch: Batch, order_id: str) -> None:
    """The order's held lines are released: a retry finds nothing left to give back."""
    now = utc_now()
    batch.add(
        update(_RESERVATIONS)
        .where(
            _RESERVATIONS.c.order_id == order_id,
            _RESERVATIONS.c.status == RESERVATION_RESERVED,
        )
        .values(status=RESERVATION_RELEASED, released_at=now)
    )


async def reserved_lines(session: AsyncSession, order_id: str) -> dict[str, int]:
    """What the order's reservation took, per product (held or since released)."""
    rows = await run(
        session,
        select(_RESERVATIONS.c.product_id, _RESERVATIONS.c.quantity)
        .where(_RESERVATIONS.c.order_id == order_id)
        .order_by(_RESERVATIONS.c.product_id),
    )
    return {row.product_id: row.quantity for row in rows}
