"""The persistence layer on a real PostgreSQL server (a throwaway cluster per test session)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import ClassVar

import pytest
from sqlalchemy import func, insert, inspect, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from devstack.postgres import PostgresCluster
from devstack.postgres_binaries import find_pg_bin
from persistence.batch import Batch
from persistence.event_store import load_timeline
from persistence.migrate import head_revision
from persistence.seed import DEV_CATALOG, seed_catalog
from persistence.tables import (
    EventRow,
    InventoryRow,
    OrderRow,
    ProductRow,
    metadata,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


# Stand-ins for models.events: frozen dataclasses with the same interface.
@dataclass(frozen=True)
class OrderPlaced:
    aggregate_type: ClassVar[str] = "order"
    schema_version: ClassVar[int] = 2
    order_id: str
    total: Decimal
    placed_at: datetime
    items: tuple[tuple[str, int], ...]

    @property
    def aggregate_id(self) -> str:
        return self.order_id


@dataclass(frozen=True)
class OrderConfirmed:
    aggregate_type: ClassVar[str] = "order"
    schema_version: ClassVar[int] = 1
    order_id: str

    @property
    def aggregate_id(self) -> str:
        return self.order_id


def product(sku: str, price: str = "10.00") -> ProductRow:
    return ProductRow(id=sku, name=f"Test {sku}", unit_price=Decimal(price), currency="EUR")


def order(order_id: str, total: str = "10.00") -> OrderRow:
    return OrderRow(
        id=order_id,
        customer_id="customer-1",
        status="PENDING",
        total_amount=Decimal(total),
        currency="EUR",
        payment_method="card",
    )


async def add_stock(sessions: async_sessionmaker[AsyncSession], sku: str, quantity: int) -> None:
    async with sessions() as session, session.begin():
        session.add(product(sku))
        await session.flush()
        session.add(InventoryRow(product_id=sku, quantity=quantity))


def psql(url: str, query: str) -> str:
    """Run ``query`` with the psql CLI -- a client that knows nothing of our code."""
    parsed = make_url(url)
    binary = shutil.which("psql") or str(find_pg_bin() / "psql")
    result = subprocess.run(
        [
            binary,
            "--no-psqlrc",
            "--tuples-only",
            "--no-align",
            "--host",
            str(parsed.host),
            "--port",
            str(parsed.port),
            "--username",
            str(parsed.username),
            "--dbname",
            str(parsed.database),
            "--command",
            query,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout.strip()


async def test_migrations_create_every_table_at_head(pg_engine: AsyncEngine) -> None:
    """The per-test database is migrated: every table of the metadata exists and
    alembic_version records the head revision."""
    async with pg_engine.connect() as conn:
        tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    assert set(metadata.tables) <= tables
    assert version == head_revision()


async def test_row_written_by_the_app_is_read_back_by_psql(
    pg_sessions: async_sessionmaker[AsyncSession], pg_url: str, pg_cluster: PostgresCluster
) -> None:
    """A product committed through the app's engine is visible to the psql CLI on the same
    server: the tests talk to a real PostgreSQL, not a stand-in."""
    async with pg_sessions() as session, session.begin():
        session.add(product("sku-psql-check", "12.34"))

    row = await asyncio.to_thread(
        psql, pg_url, "SELECT name, unit_price, currency FROM products WHERE id = 'sku-psql-check'"
    )
    assert row == "Test sku-psql-check|12.34|EUR"
    server = await asyncio.to_thread(
        psql, pg_url, "SELECT inet_server_port(), current_setting('server_version_num')"
    )
    port, version_num = server.split("|")
    assert int(port) == pg_cluster.port
    assert int(version_num) >= 130000


async def test_check_constraint_refuses_reserving_more_than_on_hand(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Even a raw UPDATE cannot make reserved exceed quantity or go negative: the database
    refuses it with a check violation and the row is unchanged."""
    await add_stock(pg_sessions, "sku-scarce", 2)
    for reserved in (3, -1):
        async with pg_sessions() as session:
            with pytest.raises(IntegrityError) as refused:
                await session.exec(
                    update(InventoryRow)
                    .where(col(InventoryRow.product_id) == "sku-scarce")
                    .values(reserved=reserved)
                )
            assert refused.value.orig is not None
            assert getattr(refused.value.orig, "sqlstate", None) == "23514"  # check_violation
    async with pg_sessions() as session:
        stock = await session.get(InventoryRow, "sku-scarce")
        assert stock is not None
        assert (stock.quantity, stock.reserved) == (2, 0)


async def test_racing_reservations_never_oversell(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Ten concurrent transactions each reserve one of three units with a blind increment:
    exactly three commit and the others are refused by the CHECK, never overselling."""
    await add_stock(pg_sessions, "sku-last-units", 3)

    async def reserve_one() -> bool:
        async with pg_sessions() as session:
            try:
                async with session.begin():
                    await session.exec(
                        update(InventoryRow)
                        .where(col(InventoryRow.product_id) == "sku-last-units")
                        .values(reserved=InventoryRow.reserved + 1)
                    )
            except IntegrityError:
                return False
            return True

    outcomes = await asyncio.gather(*(reserve_one() for _ in range(10)))
    assert outcomes.count(True) == 3
    async with pg_sessions() as session:
        stock = await session.get(InventoryRow, "sku-last-units")
        assert stock is not None
        assert stock.reserved == 3


async def test_unique_aggregate_version_refuses_a_duplicate(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Two events with the same (aggregate_id, version) cannot both be stored."""

    def event(version: int) -> EventRow:
        return EventRow(
            event_type="OrderPlaced",
            aggregate_type="order",
            aggregate_id="order-dup",
            event_data={},
            occurred_at=NOW,
            version=version,
        )

    async with pg_sessions() as session, session.begin():
        session.add(event(1))
    async with pg_sessions() as session:
        session.add(event(1))
        with pytest.raises(IntegrityError) as refused:
            await session.commit()
    diag = getattr(refused.value.orig, "diag", None)
    assert getattr(diag, "constraint_name", None) == "uq_events_aggregate_id_version"


async def test_money_round_trips_exactly(
    pg_sessions: async_sessionmaker[AsyncSession], pg_url: str
) -> None:
    """Prices come back as the same Decimals (scale kept, no float noise); the column is
    NUMERIC, so SQL arithmetic on it is exact too."""
    prices = ["0.01", "0.10", "0.20", "19.99", "9999999999.99"]
    async with pg_sessions() as session, session.begin():
        for index, price in enumerate(prices):
            session.add(product(f"sku-price-{index}", price))

    async with pg_sessions() as session:
        for index, price in enumerate(prices):
            row = await session.get(ProductRow, f"sku-price-{index}")
            assert row is not None
            assert isinstance(row.unit_price, Decimal)
            assert str(row.unit_price) == price
        total = await session.exec(
            select(func.sum(ProductRow.unit_price)).where(
                col(ProductRow.id).in_(["sku-price-1", "sku-price-2"])
            )
        )
        assert total.one() == Decimal("0.30")
    column_type = await asyncio.to_thread(
        psql,
        pg_url,
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'products'::regclass AND attname = 'unit_price'",
    )
    assert column_type == "numeric(12,2)"


async def test_money_refuses_floats(pg_sessions: async_sessionmaker[AsyncSession]) -> None:
    """A float price is refused before it reaches the database: money is Decimal only."""
    row = product("sku-float")
    row.unit_price = 0.1  # type: ignore[assignment]
    async with pg_sessions() as session:
        session.add(row)
        with pytest.raises(StatementError, match="Decimal"):
            await session.flush()


async def test_timestamps_round_trip_as_aware_utc(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """An aware timestamp in any zone is stored as timestamptz and read back as the same
    instant in UTC; a naive timestamp is refused."""
    placed = datetime(2026, 3, 29, 3, 15, 30, 123456, tzinfo=timezone(timedelta(hours=2)))
    row = order("order-tz")
    row.created_at = placed
    async with pg_sessions() as session, session.begin():
        session.add(row)
    async with pg_sessions() as session:
        loaded = await session.get(OrderRow, "order-tz")
        assert loaded is not None
        assert loaded.created_at == placed
        assert loaded.created_at.utcoffset() == timedelta(0)
        assert loaded.created_at.hour == 1

    naive = order("order-naive")
    naive.created_at = datetime(2026, 3, 29, 3, 15)  # noqa: DTZ001
    async with pg_sessions() as session:
        session.add(naive)
        with pytest.raises(StatementError, match="timezone"):
            await session.flush()


async def append(
    session: AsyncSession, events: list[object], traceparent: str | None = None
) -> None:
    """Send ``events`` in a batch of their own, in the session's transaction."""
    batch = Batch(session)
    batch.add_events(events, NOW, traceparent=traceparent)
    await batch.send()


async def test_appended_events_number_versions_per_aggregate(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Versions count 1..n per aggregate across transactions, positions follow append
    order, and the payload is JSON with Decimal as text, datetimes as ISO-8601 and tuples
    as lists."""
    placed_a = OrderPlaced("order-a", Decimal("59.80"), NOW, (("sku-espresso-beans", 2),))
    placed_b = OrderPlaced("order-b", Decimal("4.50"), NOW, (("sku-filter-papers", 1),))
    async with pg_sessions() as session, session.begin():
        await append(
            session, [placed_a, placed_b, OrderConfirmed("order-a")], traceparent="00-abc-01"
        )
    async with pg_sessions() as session, session.begin():
        await append(session, [OrderConfirmed("order-a")])

    async with pg_sessions() as session:
        rows = (await session.exec(select(EventRow).order_by(col(EventRow.position)))).all()
        timeline = await load_timeline(session, "order-a")
    assert [(row.aggregate_id, row.version, row.event_type) for row in rows] == [
        ("order-a", 1, "OrderPlaced"),
        ("order-b", 1, "OrderPlaced"),
        ("order-a", 2, "OrderConfirmed"),
        ("order-a", 3, "OrderConfirmed"),
    ]
    positions = [row.position or 0 for row in rows]
    assert all(position > 0 for position in positions)
    assert len(set(positions)) == 4

    assert [row.version for row in timeline] == [1, 2, 3]
    placed = timeline[0]
    assert placed.event_type == "OrderPlaced"
    assert placed.aggregate_type == "order"
    assert placed.schema_version == 2
    assert placed.traceparent == "00-abc-01"
    assert placed.published_at is None
    assert placed.occurred_at == NOW
    assert placed.event_data == {
        "order_id": "order-a",
        "total": "59.80",
        "placed_at": "2026-05-01T12:30:00+00:00",
        "items": [["sku-espresso-beans", 2]],
    }


async def test_appended_events_commit_or_roll_back_with_the_state_change(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The state change and its events share one transaction: after a rollback neither
    exists, after a commit both do."""

    async def confirm(session: AsyncSession) -> None:
        batch = Batch(session)
        batch.add(insert(OrderRow).values(**order("order-atomic").model_dump()))
        batch.add_events([OrderConfirmed("order-atomic")], NOW)
        await batch.send()

    async with pg_sessions() as session:
        await confirm(session)
        await session.rollback()
    async with pg_sessions() as session:
        assert await session.get(OrderRow, "order-atomic") is None
        assert await load_timeline(session, "order-atomic") == []

    async with pg_sessions() as session, session.begin():
        await confirm(session)
    async with pg_sessions() as session:
        assert await session.get(OrderRow, "order-atomic") is not None
        assert [row.version for row in await load_timeline(session, "order-atomic")] == [1]


async def _until_a_backend_waits_on_a_lock(
    sessions: async_sessionmaker[AsyncSession], attempts: int = 300
) -> None:
    waiting_on_lock = (
        select(func.count())
        .select_from(text("pg_stat_activity"))
        .where(text("datname = current_database() AND wait_event_type = 'Lock'"))
    )
    for _ in range(attempts):
        async with sessions() as probe:
            if (await probe.exec(waiting_on_lock)).one():
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the second append never blocked on the first one's row")


async def test_concurrent_appends_to_one_aggregate_conflict(
    pg_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Two transactions that both compute version 1 for one aggregate cannot both commit:
    the unique constraint rejects the later one, which the caller then retries."""
    async with pg_sessions() as first, pg_sessions() as second:
        await append(first, [OrderConfirmed("order-race")])
        # The second insert waits on the first's uncommitted row, then fails when it commits.
        racing = asyncio.create_task(append(second, [OrderConfirmed("order-race")]))
        # Commit only once the second insert is really blocked on the first's row: a fixed
        # sleep let a slow machine read the version after the commit and never conflict.
        await _until_a_backend_waits_on_a_lock(pg_sessions)
        assert not racing.done()
        await first.commit()
        with pytest.raises(IntegrityError):
            await racing
        await second.rollback()
        await append(second, [OrderConfirmed("order-race")])
        await second.commit()
        timeline = await load_timeline(second, "order-race")
    assert [row.version for row in timeline] == [1, 2]


async def test_seed_catalog_is_idempotent(pg_sessions: async_sessionmaker[AsyncSession]) -> None:
    """Seeding twice leaves one row per product and never adds stock: stock already on hand
    (here partly reserved) is left alone, while names and prices follow the catalog."""
    skus = await seed_catalog(pg_sessions)
    assert len(skus) == len(DEV_CATALOG) >= 5
    first = DEV_CATALOG[0]
    async with pg_sessions() as session, session.begin():
        await session.exec(
            update(InventoryRow).where(col(InventoryRow.product_id) == first.sku).values(reserved=2)
        )
        await session.exec(
            update(ProductRow).where(col(ProductRow.id) == first.sku).values(name="renamed")
        )

    await seed_catalog(pg_sessions)
    async with pg_sessions() as session:
        products = (await session.exec(select(func.count()).select_from(ProductRow))).one()
        stock = await session.get(InventoryRow, first.sku)
        row = await session.get(ProductRow, first.sku)
    assert products == len(DEV_CATALOG)
    assert stock is not None
    assert (stock.quantity, stock.reserved) == (first.stock, 2)
    assert row is not None
    assert (row.name, row.unit_price, row.currency) == (first.name, first.unit_price, "EUR")
