"""What the refund's stock return still does through the ORM (reservation rows, events by
type), and the restock messages a reservation answers with. The reservation path itself
goes through ``persistence.inventory``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messages.restock import LowStock, RestockInput
from models import (
    InventoryReservationFailed,
    InventoryReserved,
    InventoryRestocked,
    LowStockDetected,
)
from persistence.tables import EventRow, InventoryReservationRow, InventoryRow, utc_now

__all__ = [
    "find_event",
    "give_back",
    "low_stock_of",
    "reservations_of",
    "restock_input",
]

_RESERVED = InventoryReserved.__name__
_FAILED = InventoryReservationFailed.__name__
_LOW = LowStockDetected.__name__
_RESTOCKED = InventoryRestocked.__name__


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


def restock_input(low: LowStock, *, lead_time_seconds: float, admin_email: str) -> RestockInput:
    return RestockInput(low_stock=low, lead_time_seconds=lead_time_seconds, admin_email=admin_email)


def low_stock_of(event: LowStockDetected) -> LowStock:
    return LowStock(
        product_id=event.product_id,
        available=event.available,
        reorder_point=event.reorder_point,
        reorder_quantity=event.reorder_quantity,
    )
