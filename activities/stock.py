"""The inventory's SQL: conditional updates that cannot oversell, and lookups of what an
earlier attempt recorded.

Stock is never read, changed in Python and written back: each change is one UPDATE whose
WHERE re-checks availability on the latest committed row (PostgreSQL re-evaluates it after
waiting for a concurrent writer's lock), so racing orders cannot take the same unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messages.restock import LowStock, RestockInput
from models import (
    InventoryItem,
    InventoryReservationFailed,
    InventoryReserved,
    InventoryRestocked,
    LowStockDetected,
    OutOfStockError,
    ReorderPolicy,
    UnknownProductError,
)
from persistence.tables import EventRow, InventoryReservationRow, InventoryRow, utc_now

__all__ = [
    "find_event",
    "give_back",
    "low_stock_of",
    "recorded_failure",
    "recorded_low_stock",
    "recorded_restock",
    "reservations_of",
    "restock_input",
    "shortfall",
    "take",
]

_RESERVED = InventoryReserved.__name__
_FAILED = InventoryReservationFailed.__name__
_LOW = LowStockDetected.__name__
_RESTOCKED = InventoryRestocked.__name__


async def take(session: AsyncSession, product_id: str, quantity: int) -> InventoryItem | None:
    """Reserve ``quantity`` units if that many are available; the stock as it was *before*
    (so the domain can tell whether this reservation crossed the reorder point), or None
    when too few units are available or the product has no stock row."""
    available = col(InventoryRow.quantity) - col(InventoryRow.reserved)
    statement = (
        update(InventoryRow)
        .where(col(InventoryRow.product_id) == product_id, available >= quantity)
        .values(reserved=col(InventoryRow.reserved) + quantity, updated_at=utc_now())
        .returning(
            col(InventoryRow.quantity),
            col(InventoryRow.reserved),
            col(InventoryRow.reorder_point),
            col(InventoryRow.reorder_quantity),
        )
        .execution_options(synchronize_session=False)
    )
    row = (await session.exec(statement)).one_or_none()
    if row is None:
        return None
    on_hand, reserved, reorder_point, reorder_quantity = row
    return InventoryItem(
        product_id=product_id,
        quantity=on_hand,
        reserved=reserved - quantity,
        reorder_policy=ReorderPolicy(reorder_point, reorder_quantity),
    )


async def shortfall(
    session: AsyncSession, product_id: str, quantity: int
) -> OutOfStockError | UnknownProductError:
    """Why ``take`` refused: the product is unknown, or how many units were available."""
    stock = await session.get(InventoryRow, product_id)
    if stock is None:
        return UnknownProductError(product_id)
    return OutOfStockError(product_id, quantity, stock.available)


async def give_back(session: AsyncSession, product_id: str, quantity: int) -> None:
    """Return ``quantity`` held units, clamped at zero as the domain's release is: a
    compensation must always finish, and the CHECK would refuse a negative count."""
    reserved = col(InventoryRow.reserved)
    await session.exec(
        update(InventoryRow)
        .where(col(InventoryRow.product_id) == product_id)
        .values(
            reserved=case((reserved >= quantity, reserved - quantity), else_=0),
            updated_at=utc_now(),
        )
        .execution_options(synchronize_session=False)
    )


async def reservations_of(
    session: AsyncSession, order_id: str, *, lock: bool = False
) -> Sequence[InventoryReservationRow]:
    statement = (
        select(InventoryReservationRow)
        .where(col(InventoryReservationRow.order_id) == order_id)
        .order_by(col(InventoryReservationRow.product_id))
    )
    if lock:
        statement = statement.with_for_update()
    return (await session.exec(statement)).all()


async def find_event(
    session: AsyncSession, aggregate_id: str, event_type: str, **data: Any
) -> EventRow | None:
    """The latest ``event_type`` event of ``aggregate_id`` whose data has ``data``'s values."""
    statement = select(EventRow).where(
        col(EventRow.aggregate_id) == aggregate_id, col(EventRow.event_type) == event_type
    )
    for key, value in data.items():
        statement = statement.where(col(EventRow.event_data)[key].as_string() == value)
    statement = statement.order_by(col(EventRow.version).desc()).limit(1)
    return (await session.exec(statement)).first()


async def recorded_failure(session: AsyncSession, order_id: str) -> OutOfStockError | None:
    """The out-of-stock refusal recorded for ``order_id``, if any."""
    failed = await find_event(session, order_id, _FAILED)
    if failed is None:
        return None
    data = failed.event_data
    return OutOfStockError(data["product_id"], data["requested"], data["available"])


async def recorded_low_stock(
    session: AsyncSession, order_id: str, product_ids: Sequence[str]
) -> list[LowStock]:
    """The LowStockDetected events the reservation of ``order_id`` appended.

    Those events are about products and do not name the order; they are found by sharing
    the InventoryReserved event's timestamp (one ``occurred_at`` per transaction). Another
    reservation of the same product in the same microsecond is harmless: restocks are
    deduplicated per product by their workflow id.
    """
    reserved = await find_event(session, order_id, _RESERVED)
    if reserved is None or not product_ids:
        return []
    rows = await session.exec(
        select(EventRow)
        .where(
            col(EventRow.event_type) == _LOW,
            col(EventRow.aggregate_id).in_(product_ids),
            col(EventRow.occurred_at) == reserved.occurred_at,
        )
        .order_by(col(EventRow.position))
    )
    return [LowStock.model_validate(row.event_data) for row in rows.all()]


async def recorded_restock(
    session: AsyncSession, product_id: str, restock_id: str
) -> EventRow | None:
    return await find_event(session, product_id, _RESTOCKED, restock_id=restock_id)


def restock_input(low: LowStock, *, lead_time_seconds: float, admin_email: str) -> RestockInput:
    return RestockInput(low_stock=low, lead_time_seconds=lead_time_seconds, admin_email=admin_email)


def low_stock_of(event: LowStockDetected) -> LowStock:
    return LowStock(
        product_id=event.product_id,
        available=event.available,
        reorder_point=event.reorder_point,
        reorder_quantity=event.reorder_quantity,
    )
