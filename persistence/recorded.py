"""What an earlier attempt recorded, read back from the event store: a retry of an
inventory, refund or conclusion step answers from it instead of applying the change twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import (
    InventoryReservationFailed,
    InventoryReserved,
    InventoryRestocked,
    LowStockDetected,
    OutOfStockError,
)
from persistence.batch import run
from persistence.tables import EventRow

__all__ = ["find_event", "recorded_failure", "recorded_low_stock", "recorded_restock"]

_EVENTS = EventRow.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped


async def find_event(
    session: AsyncSession, aggregate_id: str, event_type: str, **data: Any
) -> Row[Any] | None:
    """The latest ``event_type`` event of ``aggregate_id`` whose data has ``data``'s values
    (its ``event_data`` and ``occurred_at``)."""
    statement = select(_EVENTS.c.event_data, _EVENTS.c.occurred_at).where(
        _EVENTS.c.aggregate_id == aggregate_id, _EVENTS.c.event_type == event_type
    )
    for key, value in data.items():
        statement = statement.where(_EVENTS.c.event_data[key].as_string() == value)
    statement = statement.order_by(_EVENTS.c.version.desc()).limit(1)
    return (await run(session, statement)).first()


async def recorded_failure(session: AsyncSession, order_id: str) -> OutOfStockError | None:
    """The out-of-stock refusal recorded for ``order_id``, if any."""
    failed = await find_event(session, order_id, InventoryReservationFailed.__name__)
    if failed is None:
        return None
    data = failed.event_data
    return OutOfStockError(data["product_id"], data["requested"], data["available"])


async def recorded_low_stock(
    session: AsyncSession, order_id: str, product_ids: Sequence[str]
) -> list[LowStockDetected]:
    """The LowStockDetected events the reservation of ``order_id`` appended.

    Those events are about products and do not name the order; they are found by sharing
    the InventoryReserved event's timestamp (one ``occurred_at`` per transaction). Another
    reservation of the same product in the same microsecond is harmless: restocks are
    deduplicated per product by their workflow id.
    """
    reserved = await find_event(session, order_id, InventoryReserved.__name__)
    if reserved is None or not product_ids:
        return []
    rows = await run(
        session,
        select(_EVENTS.c.event_data)
        .where(
            _EVENTS.c.event_type == LowStockDetected.__name__,
            _EVENTS.c.aggregate_id.in_(product_ids),
            _EVENTS.c.occurred_at == reserved.occurred_at,
        )
        .order_by(_EVENTS.c.position),
    )
    return [LowStockDetected(**data) for data in rows.scalars().all()]


async def recorded_restock(session: AsyncSession, product_id: str, restock_id: str) -> int | None:
    """The units on hand after restock ``restock_id`` of the product, if it was applied."""
    done = await find_event(session, product_id, InventoryRestocked.__name__, restock_id=restock_id)
    return None if done is None else int(done.event_data["quantity_on_hand"])
