"""Goods returned after the sale: a confirmed order's units stay reserved (sold) until an
after-sale refund brings some back, which frees them and shrinks or releases the lines."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import inventory
from persistence.batch import Batch
from persistence.bound import Bound, Write, param
from persistence.clock import utc_now
from persistence.tables import RESERVATION_RELEASED, RESERVATION_RESERVED, InventoryReservationRow

__all__ = ["return_lines"]

_RESERVATIONS = InventoryReservationRow.__table__  # type: ignore[attr-defined]


@functools.cache
def _update_line(prefix: str) -> Write:
    names = ("quantity", "status", "released_at")
    return (
        update(_RESERVATIONS)
        .where(
            _RESERVATIONS.c.order_id == param(prefix, "order_id"),
            _RESERVATIONS.c.product_id == param(prefix, "product_id"),
        )
        .values({name: param(prefix, name) for name in names})
    )


async def return_lines(
    session: AsyncSession, batch: Batch, order_id: str, lines: Sequence[tuple[str, int]]
) -> dict[str, int]:
    """Put back what of ``lines`` the order still holds, the lines' writes in ``batch``;
    what went back per product. A line the order never held (or has released) gives
    nothing. The caller holds the order's lock."""
    # What each line the order still holds holds now; a line given back whole is released.
    held = {
        line.product_id: line.quantity
        for line in await inventory.holdings(session, order_id)
        if line.held
    }
    given: dict[str, int] = {}
    released: set[str] = set()
    for product_id, quantity in lines:
        if product_id not in held or product_id in released:
            continue  # never held by this order, or given back already: nothing to put back
        back = min(quantity, held[product_id])
        given[product_id] = given.get(product_id, 0) + back
        if back == held[product_id]:
            released.add(product_id)  # the line keeps the units it held last, as its record
        else:
            held[product_id] -= back
    # Product order, as reservations take units: no deadlock between the two.
    await inventory.give_back(session, sorted(given.items()))
    now = utc_now()
    for product_id in sorted(given):
        done = product_id in released
        values = {
            "order_id": order_id,
            "product_id": product_id,
            "quantity": held[product_id],
            "status": RESERVATION_RELEASED if done else RESERVATION_RESERVED,
            "released_at": now if done else None,
        }
        batch.add(Bound(_update_line, values))
    return given
