"""The order aggregate as stored: its row (status, reason) and its lines.

The saga carries every order's lines and payment token, the row holds what the saga
decided: so an order is loaded from the order as placed (``Order.place``) plus its stored
status, and the domain decides each transition before :func:`add` or :func:`update`
writes it. Loading locks the row until commit: attempts for one order take turns.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Order, OrderStatus, UnknownProductError
from persistence.batch import Batch, run
from persistence.bound import Bound, Write, param
from persistence.tables import OrderItemRow, OrderRow, ProductRow, utc_now

__all__ = [
    "add",
    "as_recorded",
    "load",
    "lock",
    "require_products",
    "save",
    "set_status",
    "update_status",
]

_ORDERS = OrderRow.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped
_ITEMS = OrderItemRow.__table__  # type: ignore[attr-defined]
_PRODUCTS = ProductRow.__table__  # type: ignore[attr-defined]


async def lock(session: AsyncSession, order_id: str) -> OrderStatus | None:
    """The order's status, its row locked until commit (None: not recorded), for a step
    that knows the order only by id."""
    status = (
        await run(
            session, select(_ORDERS.c.status).where(_ORDERS.c.id == order_id).with_for_update()
        )
    ).scalar_one_or_none()
    return None if status is None else OrderStatus(status)


_LOAD = (
    select(_ORDERS.c.status, _ORDERS.c.failure_reason)
    .where(_ORDERS.c.id == bindparam("order_id"))
    .with_for_update()
)


async def load(session: AsyncSession, placed: Order) -> Order | None:
    """``placed`` in the status recorded for it, its row locked until commit; None when
    the order is not recorded yet."""
    row = (await run(session, _LOAD, {"order_id": placed.id})).one_or_none()
    if row is None:
        return None
    return as_recorded(placed, row.status, row.failure_reason)


def as_recorded(placed: Order, status: str, failure_reason: str | None) -> Order:
    """``placed`` in the status (and reason) its row holds."""
    return dataclasses.replace(placed, status=OrderStatus(status), reason=failure_reason)


async def require_products(session: AsyncSession, order: Order) -> None:
    """UnknownProductError for the first line naming no catalog product."""
    wanted = [item.product_id for item in order.items]
    known = set(
        (await run(session, select(_PRODUCTS.c.id).where(_PRODUCTS.c.id.in_(wanted))))
        .scalars()
        .all()
    )
    for product_id in wanted:
        if product_id not in known:
            raise UnknownProductError(product_id)


_ORDER_COLUMNS = (
    "id",
    "customer_id",
    "status",
    "total_amount",
    "currency",
    "payment_method",
    "failure_reason",
    "created_at",
    "updated_at",
)
_ITEM_COLUMNS = ("order_id", "product_id", "quantity", "unit_price", "currency")


@functools.cache
def _insert_order(prefix: str) -> Write:
    return insert(_ORDERS).values({name: param(prefix, name) for name in _ORDER_COLUMNS})


@functools.cache
def _insert_item(prefix: str) -> Write:
    return insert(_ITEMS).values({name: param(prefix, name) for name in _ITEM_COLUMNS})


@functools.cache
def _update_status(prefix: str) -> Write:
    return (
        update(_ORDERS)
        .where(_ORDERS.c.id == param(prefix, "order_id"))
        .values(
            status=param(prefix, "status"),
            failure_reason=param(prefix, "failure_reason"),
            updated_at=param(prefix, "updated_at"),
        )
    )


@functools.cache
def _set_status(prefix: str) -> Write:
    return (
        update(_ORDERS)
        .where(_ORDERS.c.id == param(prefix, "order_id"))
        .values(status=param(prefix, "status"), updated_at=param(prefix, "updated_at"))
    )


def add(batch: Batch, order: Order, *, placed_at: datetime) -> None:
    """Insert the order, in the status the domain has it in now, with its lines."""
    row = {
        "id": order.id,
        "customer_id": order.customer_id,
        "status": order.status.value,
        "total_amount": order.total.amount,
        "currency": order.currency,
        "payment_method": order.payment.method,
        "failure_reason": _stored_reason(order),
        # The order was placed when the customer placed it, whichever step records it.
        "created_at": placed_at,
        "updated_at": placed_at if order.status is OrderStatus.PENDING else utc_now(),
    }
    batch.add(
        Bound(_insert_order, row),
        # A row per statement: a multi-row VALUES is never in SQLAlchemy's compiled cache.
        *(
            Bound(
                _insert_item,
                {
                    "order_id": order.id,
                    "product_id": item.product_id,
                    "quantity": item.quantity,
                    "unit_price": item.unit_price.amount,
                    "currency": item.unit_price.currency,
                },
            )
            for item in order.items
        ),
    )


def save(batch: Batch, order: Order, *, new: bool, placed_at: datetime) -> None:
    """Insert the order (``new``) or write its status: one write per row and batch."""
    if new:
        add(batch, order, placed_at=placed_at)
    else:
        update_status(batch, order)


def update_status(batch: Batch, order: Order) -> None:
    """Write the status (and reason) the domain moved ``order`` to."""
    values = {
        "order_id": order.id,
        "status": order.status.value,
        "failure_reason": _stored_reason(order),
        "updated_at": utc_now(),
    }
    batch.add(Bound(_update_status, values))


def set_status(batch: Batch, order_id: str, status: OrderStatus) -> None:
    """Write a status the domain's transition table allowed (``models.transition``), for a
    step that knows the order only by id (a payment's); the reason stays as it is."""
    values = {"order_id": order_id, "status": status.value, "updated_at": utc_now()}
    batch.add(Bound(_set_status, values))


def _stored_reason(order: Order) -> str | None:
    # A parked order's reason can be a whole stack of errors; the row keeps the head.
    return None if order.reason is None else order.reason[:500]
