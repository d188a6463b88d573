"""The order aggregate as stored: its row (status, reason) and its lines.

The saga carries every order's lines and payment token, the row holds what the saga
decided: so an order is loaded from the order as placed (``Order.place``) plus its stored
status, and the domain decides each transition before :func:`add` or :func:`update_status`
writes it. A step that knows the order only by id (a payment's, a refund's) loads it as
stored (:func:`load_stored`: its lines, no payment token). Loading locks the row until
commit: attempts for one order take turns.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, bindparam, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Money, Order, OrderItem, OrderStatus, PaymentDetails, UnknownProductError
from persistence.batch import Batch, run
from persistence.bound import Bound, Write, param
from persistence.clock import utc_now
from persistence.tables import OrderItemRow, OrderRow, ProductRow

__all__ = [
    "STORED",
    "add",
    "as_recorded",
    "from_rows",
    "load",
    "load_stored",
    "lock",
    "require_products",
    "save",
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


# The order as stored, a row per line: for a step that knows the order only by id.
STORED: tuple[ColumnElement[Any], ...] = (
    _ORDERS.c.customer_id,
    _ORDERS.c.status.label("order_status"),
    _ORDERS.c.failure_reason.label("order_reason"),
    _ORDERS.c.payment_method.label("order_method"),
    _ITEMS.c.product_id,
    _ITEMS.c.quantity,
    _ITEMS.c.unit_price,
    _ITEMS.c.currency.label("item_currency"),
)
_LOAD_STORED = (
    select(*STORED)
    .select_from(_ORDERS.join(_ITEMS, _ITEMS.c.order_id == _ORDERS.c.id))
    .where(_ORDERS.c.id == bindparam("order_id"))
    .order_by(_ITEMS.c.id)
    .with_for_update(of=_ORDERS)
)


async def load_stored(session: AsyncSession, order_id: str) -> Order | None:
    """The order as stored (no payment token: it is never stored), its row locked until
    commit; None when it is not recorded."""
    return from_rows(order_id, (await run(session, _LOAD_STORED, {"order_id": order_id})).all())


def from_rows(order_id: str, rows: Sequence[Row[Any]]) -> Order | None:
    """The order from rows holding the :data:`STORED` columns, one per line."""
    if not rows:
        return None
    head = rows[0]
    return Order(
        id=order_id,
        customer_id=head.customer_id,
        items=tuple(
            OrderItem(row.product_id, row.quantity, Money(row.unit_price, row.item_currency))
            for row in rows
        ),
        payment=PaymentDetails(method=head.order_method),
        status=OrderStatus(head.order_status),
        reason=head.order_reason,
    )


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


def _stored_reason(order: Order) -> str | None:
    # A parked order's reason can be a whole stack of errors; the row keeps the head.
    return None if order.reason is None else order.reason[:500]
