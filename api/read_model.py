"""Read-side queries over the tables the saga's activities write. All parameterised.

The read model trails the saga: the order row appears when the first activity records it,
and each step updates it. Callers fall back to the workflow when a row is missing or behind.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.event_store import load_timeline
from persistence.tables import (
    EventRow,
    InventoryRow,
    NotificationRow,
    OrderItemRow,
    OrderRow,
    PaymentRow,
    ProductRow,
)


@dataclass(frozen=True)
class OrderRecord:
    order: OrderRow
    items: list[OrderItemRow]
    payment: PaymentRow | None
    notifications: list[NotificationRow]


async def find_order(session: AsyncSession, order_id: str) -> OrderRecord | None:
    order = await session.get(OrderRow, order_id, populate_existing=True)
    if order is None:
        return None
    items = await session.exec(
        select(OrderItemRow)
        .where(col(OrderItemRow.order_id) == order_id)
        .order_by(col(OrderItemRow.id))
    )
    payment = await session.exec(select(PaymentRow).where(col(PaymentRow.order_id) == order_id))
    notifications = await session.exec(
        select(NotificationRow)
        .where(col(NotificationRow.order_id) == order_id)
        .order_by(col(NotificationRow.created_at))
    )
    return OrderRecord(order, list(items.all()), payment.first(), list(notifications.all()))


async def owner_of(session: AsyncSession, order_id: str) -> str | None:
    """The customer of a recorded order; ``None`` when the read model has no row yet."""
    statement = select(col(OrderRow.customer_id)).where(col(OrderRow.id) == order_id)
    return (await session.exec(statement)).first()


Cursor = tuple[datetime, str]


def encode_cursor(created_at: datetime, order_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), order_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """The (created_at, id) a cursor points after; ValueError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created_at, order_id = json.loads(raw)
        moment = datetime.fromisoformat(created_at)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise ValueError("not a cursor returned by this API") from exc
    if moment.utcoffset() is None or not isinstance(order_id, str):
        raise ValueError("not a cursor returned by this API")
    return moment, order_id


async def list_orders(
    session: AsyncSession,
    *,
    customer_id: str | None,
    status: str | None,
    after: Cursor | None,
    limit: int,
) -> list[OrderRow]:
    """Newest first by (created_at, id), which the customer/created_at index serves."""
    statement = select(OrderRow)
    if customer_id is not None:
        statement = statement.where(col(OrderRow.customer_id) == customer_id)
    if status is not None:
        statement = statement.where(col(OrderRow.status) == status)
    if after is not None:
        created_at, order_id = after
        statement = statement.where(
            or_(
                col(OrderRow.created_at) < created_at,
                and_(col(OrderRow.created_at) == created_at, col(OrderRow.id) < order_id),
            )
        )
    statement = statement.order_by(col(OrderRow.created_at).desc(), col(OrderRow.id).desc())
    return list((await session.exec(statement.limit(limit))).all())


async def order_events(session: AsyncSession, order_id: str) -> list[EventRow]:
    return await load_timeline(session, order_id)


ProductWithStock = tuple[ProductRow, InventoryRow | None]


def _products_with_stock() -> Any:
    return select(ProductRow, InventoryRow).outerjoin(
        InventoryRow, col(InventoryRow.product_id) == col(ProductRow.id)
    )


async def list_products(
    session: AsyncSession, *, after: str | None, limit: int
) -> list[ProductWithStock]:
    """Products with their stock, ordered by id, starting after the id ``after``."""
    statement = _products_with_stock()
    if after is not None:
        statement = statement.where(col(ProductRow.id) > after)
    rows = await session.exec(statement.order_by(col(ProductRow.id)).limit(limit))
    return [(product, stock) for product, stock in rows.all()]


async def find_product(session: AsyncSession, product_id: str) -> ProductWithStock | None:
    statement = _products_with_stock().where(col(ProductRow.id) == product_id)
    row = (await session.exec(statement)).first()
    return None if row is None else (row[0], row[1])


async def catalog_prices(session: AsyncSession, product_ids: list[str]) -> dict[str, ProductRow]:
    """The catalog entries for ``product_ids`` (missing ones are simply absent)."""
    rows = await session.exec(select(ProductRow).where(col(ProductRow.id).in_(product_ids)))
    return {product.id: product for product in rows.all()}
