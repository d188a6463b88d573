"""The admins' catalog writes (api/services/products.py) on PostgreSQL and on SQLite: each
stock change commits with its InventoryRestocked, numbered on the product's timeline."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from api.errors import ProductExistsError, ProductNotFoundError, StockTooLargeError
from api.schemas import MAX_STOCK, ProductCreate, StockUpdate
from api.services.products import ProductService
from models.actor import Actor
from persistence.event_store import actor_of, load_timeline
from persistence.tables import InventoryRow, ProductRow

pytestmark = pytest.mark.integration

ADMIN = Actor(kind="user", subject="root", role="catalog-admin")


@pytest.fixture(params=["postgresql", "sqlite"])
def sessions(request: pytest.FixtureRequest) -> async_sessionmaker[AsyncSession]:
    name = "pg_sessions" if request.param == "postgresql" else "sqlite_sessions"
    found: async_sessionmaker[AsyncSession] = request.getfixturevalue(name)
    return found


def kettle(initial_stock: int = 0) -> ProductCreate:
    return ProductCreate.model_validate(
        {
            "id": "sku-kettle",
            "name": "Kettle",
            "unit_price": "54.00",
            "currency": "EUR",
            "initial_stock": initial_stock,
            "reorder_point": 2,
            "reorder_quantity": 8,
        }
    )


async def stock_row(sessions: async_sessionmaker[AsyncSession], sku: str) -> InventoryRow | None:
    async with sessions() as session:
        return await session.get(InventoryRow, sku)


async def test_a_new_product_opens_its_stock_with_a_restock_by_its_admin(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Creating a product writes it, its stock row and InventoryRestocked (the admin as its
    actor) together; creating it again is refused and writes nothing."""
    products = ProductService(sessions)
    created = await products.create(kettle(initial_stock=5), ADMIN)
    with pytest.raises(ProductExistsError):
        await products.create(kettle(initial_stock=7), ADMIN)

    assert created.stock is not None
    assert (created.stock.quantity, created.stock.reorder_point) == (5, 2)
    assert await products.get("sku-kettle") == created
    async with sessions() as session:
        timeline = await load_timeline(session, "sku-kettle")
    assert [(row.version, row.event_type) for row in timeline] == [(1, "InventoryRestocked")]
    assert timeline[0].event_data["quantity_on_hand"] == 5
    assert actor_of(timeline[0]) == ADMIN


async def test_a_restock_keeps_the_units_reserved_meanwhile(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A restock adds to the units on hand and sets the policy it names, leaves the
    reserved units as the reservations left them, and appends after the opening stock."""
    products = ProductService(sessions)
    await products.create(kettle(initial_stock=5), ADMIN)
    async with sessions() as session, session.begin():
        await session.exec(
            update(InventoryRow)
            .where(col(InventoryRow.product_id) == "sku-kettle")
            .values(reserved=3)
        )

    change = StockUpdate.model_validate({"add_quantity": 10, "reorder_point": 4})
    restocked = await products.update_stock("sku-kettle", change, ADMIN)

    assert restocked.stock is not None
    assert restocked.stock.model_dump() == {
        "quantity": 15,
        "reserved": 3,
        "available": 12,
        "reorder_point": 4,
        "reorder_quantity": 8,
    }
    row = await stock_row(sessions, "sku-kettle")
    assert row is not None
    assert (row.quantity, row.reserved, row.reorder_point, row.reorder_quantity) == (15, 3, 4, 8)
    async with sessions() as session:
        timeline = await load_timeline(session, "sku-kettle")
    assert [row.event_data["quantity_on_hand"] for row in timeline] == [5, 15]
    assert [row.version for row in timeline] == [1, 2]


async def test_a_product_without_stock_gets_its_row_at_its_first_restock(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A catalog entry with no stock row (written outside the API) gets one when restocked."""
    async with sessions() as session, session.begin():
        session.add(ProductRow(id="sku-bare", name="Bare", unit_price=Decimal(1), currency="EUR"))

    change = StockUpdate.model_validate({"add_quantity": 4})
    restocked = await ProductService(sessions).update_stock("sku-bare", change, ADMIN)

    assert restocked.stock is not None
    assert (restocked.stock.quantity, restocked.stock.reserved) == (4, 0)
    row = await stock_row(sessions, "sku-bare")
    assert row is not None
    assert row.quantity == 4
    async with sessions() as session:
        [event] = await load_timeline(session, "sku-bare")
    assert event.event_data["quantity_on_hand"] == 4


async def test_refused_stock_changes_write_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """An unknown product is not found; a restock past the cap is refused and changes
    neither the stock nor the timeline."""
    products = ProductService(sessions)
    await products.create(kettle(initial_stock=5), ADMIN)

    with pytest.raises(ProductNotFoundError):
        await products.update_stock("sku-none", StockUpdate(add_quantity=1), ADMIN)
    with pytest.raises(StockTooLargeError):
        await products.update_stock("sku-kettle", StockUpdate(add_quantity=MAX_STOCK), ADMIN)

    row = await stock_row(sessions, "sku-kettle")
    assert row is not None
    assert row.quantity == 5
    async with sessions() as session:
        assert len(await load_timeline(session, "sku-kettle")) == 1


async def test_concurrent_restocks_of_one_product_all_apply_in_turn(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Restocks racing on one product take turns on its stock row: none is lost, and
    their events number the product's timeline without a gap."""
    products = ProductService(sessions)
    await products.create(kettle(initial_stock=1), ADMIN)

    await asyncio.gather(
        *(products.update_stock("sku-kettle", StockUpdate(add_quantity=1), ADMIN) for _ in range(5))
    )

    row = await stock_row(sessions, "sku-kettle")
    assert row is not None
    assert row.quantity == 6
    async with sessions() as session:
        timeline = await load_timeline(session, "sku-kettle")
    assert [row.version for row in timeline] == [1, 2, 3, 4, 5, 6]
    assert sorted(row.event_data["quantity_on_hand"] for row in timeline) == [1, 2, 3, 4, 5, 6]
