"""Shared setup for the activity tests: catalog rows, order snapshots, and reading back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from messages.saga import OrderLine, OrderSnapshot, PaymentInfo
from persistence.tables import EventRow, InventoryRow, OrderRow, ProductRow

Sessions = async_sessionmaker[AsyncSession]

PLACED_AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


async def add_product(
    sessions: Sessions,
    sku: str,
    stock: int,
    *,
    price: str = "10.00",
    reorder_point: int = 0,
    reorder_quantity: int = 0,
) -> None:
    async with sessions() as session, session.begin():
        session.add(
            ProductRow(id=sku, name=f"Test {sku}", unit_price=Decimal(price), currency="EUR")
        )
        await session.flush()
        session.add(
            InventoryRow(
                product_id=sku,
                quantity=stock,
                reorder_point=reorder_point,
                reorder_quantity=reorder_quantity,
            )
        )


def snapshot(
    *lines: tuple[str, int], token: str = "tok_visa", price: str = "10.00"
) -> OrderSnapshot:
    """A new order (fresh id) for ``lines`` of (sku, quantity), every unit at ``price``."""
    return OrderSnapshot(
        order_id=str(uuid.uuid4()),
        customer_id="customer-7",
        customer_email="customer-7@example.com",
        currency="EUR",
        lines=[
            OrderLine(product_id=sku, quantity=qty, unit_price=Decimal(price)) for sku, qty in lines
        ],
        payment=PaymentInfo(token=token),
        placed_at=PLACED_AT,
    )


async def stock_of(sessions: Sessions, sku: str) -> InventoryRow:
    async with sessions() as session:
        row = await session.get(InventoryRow, sku)
        assert row is not None
        return row


async def order_of(sessions: Sessions, order_id: str) -> OrderRow | None:
    async with sessions() as session:
        return await session.get(OrderRow, order_id)


async def event_types(sessions: Sessions, aggregate_id: str) -> list[str]:
    """The types of ``aggregate_id``'s events, oldest first."""
    async with sessions() as session:
        rows = await session.exec(
            select(EventRow.event_type)
            .where(col(EventRow.aggregate_id) == aggregate_id)
            .order_by(col(EventRow.version))
        )
        return list(rows.all())


async def events_named(sessions: Sessions, event_type: str) -> list[EventRow]:
    async with sessions() as session:
        rows = await session.exec(
            select(EventRow)
            .where(col(EventRow.event_type) == event_type)
            .order_by(col(EventRow.position))
        )
        return list(rows.all())
