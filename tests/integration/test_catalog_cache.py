"""Orders are priced from the catalog; the API keeps a price for a configured while only."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from api.schemas import OrderCreate
from api.services.catalog import CatalogCache
from api.services.pricing import price_order
from config.settings import ApiSettings
from persistence.tables import ProductRow

pytestmark = pytest.mark.integration

TTL = 0.5


@pytest.fixture
def sessions(sqlite_sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    return sqlite_sessions


def an_order(sku: str) -> OrderCreate:
    return OrderCreate.model_validate(
        {
            "items": [{"product_id": sku, "quantity": 2}],
            "payment": {"method": "card", "token": "tok_visa"},
        }
    )


async def add_product(sessions: async_sessionmaker[AsyncSession], sku: str, price: str) -> None:
    async with sessions() as session:
        session.add(ProductRow(id=sku, name=sku, unit_price=Decimal(price), currency="EUR"))
        await session.commit()


async def set_price(sessions: async_sessionmaker[AsyncSession], sku: str, price: str) -> None:
    async with sessions() as session:
        await session.exec(
            update(ProductRow).where(col(ProductRow.id) == sku).values(unit_price=Decimal(price))
        )
        await session.commit()


async def unit_price(
    sessions: async_sessionmaker[AsyncSession], cache: CatalogCache, sku: str
) -> Decimal:
    async with sessions() as session:
        priced = await price_order(session, an_order(sku), cache)
    return priced.lines[0].unit_price


async def test_a_price_change_reaches_new_orders_once_the_cached_price_expires(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Within the TTL an order keeps the price read before the change; after it, the new
    price from the catalog."""
    await add_product(sessions, "sku-beans", "10.00")
    cache = CatalogCache(TTL)
    assert await unit_price(sessions, cache, "sku-beans") == Decimal("10.00")
    await set_price(sessions, "sku-beans", "12.50")
    assert await unit_price(sessions, cache, "sku-beans") == Decimal("10.00")
    await asyncio.sleep(TTL + 0.1)
    assert await unit_price(sessions, cache, "sku-beans") == Decimal("12.50")


async def test_without_a_ttl_every_order_reads_the_catalog(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_product(sessions, "sku-mill", "30.00")
    cache = CatalogCache(0)
    assert await unit_price(sessions, cache, "sku-mill") == Decimal("30.00")
    await set_price(sessions, "sku-mill", "31.00")
    assert await unit_price(sessions, cache, "sku-mill") == Decimal("31.00")


async def test_a_product_unknown_a_moment_ago_can_be_ordered_once_it_exists(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Absence is never cached: a product added after a refused order is found at once."""
    cache = CatalogCache(60)
    async with sessions() as session:
        assert await cache.prices(session, ["sku-new"]) == {}
    await add_product(sessions, "sku-new", "5.00")
    assert await unit_price(sessions, cache, "sku-new") == Decimal("5.00")


def test_prices_are_kept_ten_seconds_unless_configured() -> None:
    assert ApiSettings().catalog_cache_seconds == 10.0
    assert ApiSettings(catalog_cache_seconds=0).catalog_cache_seconds == 0
