"""The catalog as its admins write it: a product with its opening stock, and changes to a
product's stock (units delivered, the reorder policy).

The domain (``models.inventory``) decides a change on the stock read under its row's lock
(:func:`persistence.inventory.load_item`); the writes here and the change's events then
go in one :class:`~persistence.batch.Batch`. Admin writes are rare: plain Core
statements, not the hot path's templates built once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from models import InventoryItem
from persistence.batch import Batch, run
from persistence.tables import InventoryRow, ProductRow

__all__ = ["add_product", "add_stock", "find_product", "save_stock"]

_PRODUCTS = ProductRow.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped
_STOCK = InventoryRow.__table__  # type: ignore[attr-defined]


async def find_product(session: AsyncSession, product_id: str) -> ProductRow | None:
    """The product as stored (None: no such product), detached from any session."""
    statement = select(_PRODUCTS).where(_PRODUCTS.c.id == product_id)
    row = (await run(session, statement)).one_or_none()
    return None if row is None else ProductRow(**row._mapping)


def add_product(batch: Batch, product: ProductRow, stock: InventoryItem) -> None:
    """A new product and its stock row; a product of the same id makes ``send`` raise
    ``persistence.unit.Conflict``."""
    batch.add(
        insert(_PRODUCTS).values(
            id=product.id,
            name=product.name,
            unit_price=product.unit_price,
            currency=product.currency,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )
    )
    add_stock(batch, stock, product.created_at)


def add_stock(batch: Batch, item: InventoryItem, now: datetime) -> None:
    """The stock row of a product that has none yet (a racing writer's row makes ``send``
    raise ``persistence.unit.Conflict``)."""
    batch.add(
        insert(_STOCK).values(
            product_id=item.product_id,
            quantity=item.quantity,
            reserved=item.reserved,
            reorder_point=item.reorder_policy.reorder_point,
            reorder_quantity=item.reorder_policy.reorder_quantity,
            updated_at=now,
        )
    )


def save_stock(batch: Batch, item: InventoryItem, now: datetime) -> None:
    """The units on hand and the reorder policy the domain decided, under the row's lock.
    ``reserved`` belongs to the reservations: it is never written back from here."""
    batch.add(
        update(_STOCK)
        .where(_STOCK.c.product_id == item.product_id)
        .values(
            quantity=item.quantity,
            reorder_point=item.reorder_policy.reorder_point,
            reorder_quantity=item.reorder_policy.reorder_quantity,
            updated_at=now,
        )
    )
