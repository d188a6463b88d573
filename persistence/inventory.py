"""Stock and reservations as stored: conditional updates that cannot oversell, and what
an earlier attempt of a reservation recorded.

Stock is never read, changed in Python and written back: each change is one UPDATE whose
WHERE re-checks availability on the latest committed row (PostgreSQL re-evaluates it after
waiting for a concurrent writer's lock), so racing orders cannot take the same unit. The
domain (``models.inventory``) is then replayed on the stock as it was, to say what the
reservation means (which products crossed their reorder point).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from models import (
    InventoryItem,
    InventoryReservationFailed,
    InventoryReserved,
    LowStockDetected,
    OutOfStockError,
    ReorderPolicy,
    UnknownProductError,
)
from persistence.batch import Batch, run
from persistence.tables import (
    RESERVATION_RESERVED,
    EventRow,
    InventoryReservationRow,
    InventoryRow,
    utc_now,
)

__all__ = [
    "add_reservations",
    "find_event",
    "recorded_failure",
    "recorded_low_stock",
    "reserved_lines",
    "shortfall",
    "take",
]

_STOCK = InventoryRow.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped
_RESERVATIONS = InventoryReservationRow.__table__  # type: ignore[attr-defined]
_EVENTS = EventRow.__table__  # type: ignore[attr-defined]


async def take(session: AsyncSession, product_id: str, quantity: int) -> InventoryItem | None:
    """Hold ``quantity`` units if that many are available; the stock as it was *before*
    (so the domain can tell whether this reservation crossed the reorder point), or None
    when too few units are available or the product has no stock row."""
    statement = (
        update(_STOCK)
        .where(_STOCK.c.product_id == product_id, _STOCK.c.quantity - _STOCK.c.reserved >= quantity)
        .values(reserved=_STOCK.c.reserved + quantity, updated_at=utc_now())
        .returning(
            _STOCK.c.quantity, _STOCK.c.reserved, _STOCK.c.reorder_point, _STOCK.c.reorder_quantity
        )
    )
    row = (await run(session, statement)).one_or_none()
    if row is None:
        return None
    return InventoryItem(
        product_id=product_id,
        quantity=row.quantity,
        reserved=row.reserved - quantity,
        reorder_policy=ReorderPolicy(row.reorder_point, row.reorder_quantity),
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
            insert(_RESERVATIONS).values(
                order_id=order_id,
                product_id=product_id,
                quantity=quantity,
                status=RESERVATION_RESERVED,
                created_at=now,
            )
            for product_id, quantity in lines
        )
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
