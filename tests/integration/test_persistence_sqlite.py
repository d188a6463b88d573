"""The same migrations and column types on SQLite, the zero-setup dev mode (a temp file)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest
import pytest_asyncio
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import inspect, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import DatabaseSettings
from persistence.batch import Batch
from persistence.database import create_engine, session_factory
from persistence.event_store import load_timeline
from persistence.migrate import head_revision, upgrade, upgrade_async
from persistence.tables import (
    EventRow,
    InventoryRow,
    OrderItemRow,
    OrderRow,
    ProductRow,
    metadata,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


@dataclass(frozen=True)
class StockReserved:
    aggregate_type: ClassVar[str] = "inventory"
    schema_version: ClassVar[int] = 1
    product_id: str
    quantity: int

    @property
    def aggregate_id(self) -> str:
        return self.product_id


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "orders.db"


@pytest_asyncio.fixture(loop_scope="session")
async def sqlite_engine(sqlite_file: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{sqlite_file}"
    upgrade(url)
    engine = create_engine(DatabaseSettings(url=url))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessions(sqlite_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(sqlite_engine)


def product(sku: str, price: str = "10.00") -> ProductRow:
    return ProductRow(id=sku, name=f"Test {sku}", unit_price=Decimal(price), currency="EUR")


async def test_migrations_apply_on_sqlite(sqlite_engine: AsyncEngine, sqlite_file: Path) -> None:
    """The Alembic migrations run on a SQLite file (its directory created on the way) and
    produce exactly the tables of the SQLModel metadata."""
    assert await asyncio.to_thread(sqlite_file.exists)
    async with sqlite_engine.connect() as conn:
        tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        differences = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), metadata
            )
        )
    assert tables == {*metadata.tables, "alembic_version"}
    assert version == head_revision()
    assert differences == []


async def test_engine_enables_wal_foreign_keys_and_busy_timeout(
    sqlite_engine: AsyncEngine,
) -> None:
    """Every SQLite connection of the app runs in WAL mode, enforces foreign keys and waits
    for a lock instead of failing at once."""
    async with sqlite_engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one() >= 1000


async def test_foreign_keys_are_enforced(sessions: async_sessionmaker[AsyncSession]) -> None:
    """An order item pointing at no order is refused on SQLite too."""
    async with sessions() as session:
        session.add(product("sku-fk"))
        await session.flush()
        session.add(
            OrderItemRow(
                order_id="no-such-order",
                product_id="sku-fk",
                quantity=1,
                unit_price=Decimal("1.00"),
                currency="EUR",
            )
        )
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_money_round_trips_exactly_on_sqlite(
    sessions: async_sessionmaker[AsyncSession], sqlite_file: Path
) -> None:
    """SQLite has no decimal type: money is stored as exact text ("0.10", not 0.1) and comes
    back as the same Decimal, scale included."""
    prices = ["0.01", "0.10", "0.30", "19.99", "9999999999.99"]
    async with sessions() as session, session.begin():
        for index, price in enumerate(prices):
            session.add(product(f"sku-price-{index}", price))
    async with sessions() as session:
        for index, price in enumerate(prices):
            row = await session.get(ProductRow, f"sku-price-{index}")
            assert row is not None
            assert isinstance(row.unit_price, Decimal)
            assert str(row.unit_price) == price

    with sqlite3.connect(sqlite_file) as raw:
        stored = raw.execute(
            "SELECT unit_price, typeof(unit_price) FROM products WHERE id = 'sku-price-1'"
        ).fetchone()
    assert stored == ("0.10", "text")


async def test_timestamps_round_trip_as_aware_utc_on_sqlite(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """SQLite has no time zones: an aware timestamp is stored in UTC and read back aware,
    the same instant, in UTC."""
    placed = datetime(2026, 3, 29, 3, 15, 30, 123456, tzinfo=timezone(timedelta(hours=-5)))
    row = OrderRow(
        id="order-tz",
        customer_id="customer-1",
        status="PENDING",
        total_amount=Decimal("1.00"),
        currency="EUR",
        payment_method="card",
        created_at=placed,
    )
    async with sessions() as session, session.begin():
        session.add(row)
    async with sessions() as session:
        loaded = await session.get(OrderRow, "order-tz")
    assert loaded is not None
    assert loaded.created_at == placed
    assert loaded.created_at.tzinfo is UTC
    assert loaded.created_at.hour == 8


async def test_check_constraint_refuses_overselling_on_sqlite(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The inventory CHECK constraints hold on SQLite as well: reserved cannot exceed
    quantity."""
    async with sessions() as session, session.begin():
        session.add(product("sku-scarce"))
        await session.flush()
        session.add(InventoryRow(product_id="sku-scarce", quantity=1))
    async with sessions() as session:
        with pytest.raises(IntegrityError):
            await session.exec(
                update(InventoryRow)
                .where(col(InventoryRow.product_id) == "sku-scarce")
                .values(reserved=2)
            )


async def append(
    session: AsyncSession, events: list[object], traceparent: str | None = None
) -> None:
    """Send ``events`` in a batch of their own, in the session's transaction."""
    batch = Batch(session)
    batch.add_events(events, NOW, traceparent=traceparent)
    await batch.send()


async def test_appended_events_on_sqlite(sessions: async_sessionmaker[AsyncSession]) -> None:
    """On SQLite the event store numbers versions per aggregate and the global positions
    itself (no non-key autoincrement there), continuing across transactions."""
    async with sessions() as session, session.begin():
        await append(session, [StockReserved("sku-a", 1), StockReserved("sku-b", 2)])
    async with sessions() as session, session.begin():
        await append(session, [StockReserved("sku-a", 3)])
    async with sessions() as session:
        rows = (await session.exec(select(EventRow).order_by(col(EventRow.position)))).all()
        timeline = await load_timeline(session, "sku-a")
    assert [(row.aggregate_id, row.version, row.position) for row in rows] == [
        ("sku-a", 1, 1),
        ("sku-b", 1, 2),
        ("sku-a", 2, 3),
    ]
    assert [row.event_data for row in timeline] == [
        {"product_id": "sku-a", "quantity": 1},
        {"product_id": "sku-a", "quantity": 3},
    ]
    assert timeline[0].occurred_at == NOW


async def test_appended_events_carry_the_active_trace_unless_the_caller_names_one(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Every activity appends inside its span: the store keeps that span's traceparent, so
    the relay can publish the event in the order's trace; an explicit one wins."""
    tracer = TracerProvider().get_tracer("test")
    explicit = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with sessions() as session, session.begin():
        await append(session, [StockReserved("sku-t", 1)])
        with tracer.start_as_current_span("RunActivity:reserve_inventory") as span:
            await append(session, [StockReserved("sku-t", 2)])
            await append(session, [StockReserved("sku-t", 3)], explicit)
    async with sessions() as session:
        outside, inside, named = await load_timeline(session, "sku-t")
    context = span.get_span_context()
    assert outside.traceparent is None
    assert (inside.traceparent or "").startswith(
        f"00-{context.trace_id:032x}-{context.span_id:016x}-"
    )
    assert named.traceparent == explicit


async def test_upgrade_async_on_sqlite_leaves_foreign_keys_on(tmp_path: Path) -> None:
    """upgrade_async migrates a SQLite file through the app's engine with foreign keys off
    (table rebuilds must not cascade), and the pooled connection gets them back on."""
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"))
    try:
        await upgrade_async(engine)
        async with engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await engine.dispose()
    assert version == head_revision()
