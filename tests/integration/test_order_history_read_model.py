"""The order-history read model on SQLite (the dev database): the merge is indifferent to
the order in which one order's events arrive across topics."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import DatabaseSettings
from consumers.order_history.service import handle
from outbox.cloudevents import ReceivedEvent, ce_type
from outbox.consumer import claim
from persistence.database import create_engine, session_factory
from persistence.migrate import upgrade
from persistence.order_history import all_history, customer_history

pytestmark = pytest.mark.integration
STARTED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest_asyncio.fixture(loop_scope="session")
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    upgrade(url)
    engine = create_engine(DatabaseSettings(url=url))
    try:
        yield engine
    finally:
        await engine.dispose()


def received(event_type: str, order_id: str, step: int, **data: object) -> ReceivedEvent:
    return ReceivedEvent(
        event_id=uuid.uuid4(),
        event_type=event_type,
        schema_version=1,
        ce_type=ce_type(event_type, 1),
        source="/order-saga/tests",
        subject=order_id,
        time=STARTED + timedelta(seconds=step),
        key=order_id,
        data={"order_id": order_id, **data},
        traceparent=None,
        topic="t",
        partition=0,
        offset=step,
    )


def confirmed_order(order_id: str) -> list[ReceivedEvent]:
    created = {"customer_id": "customer-7", "total_amount": "31.00", "currency": "EUR"}
    return [
        received("OrderCreated", order_id, 0, **created),
        received("InventoryReserved", order_id, 1, items=[]),
        received("PaymentProcessed", order_id, 2, payment_id="p", amount="31.00"),
        received("OrderConfirmed", order_id, 3),
    ]


async def apply_all(
    sessions: async_sessionmaker[AsyncSession], events: list[ReceivedEvent]
) -> None:
    for event in events:
        async with sessions() as session, session.begin():
            if await claim(session, "order-history", event.event_id):
                await handle(session, event)


async def test_every_arrival_order_of_an_orders_events_ends_in_the_same_row(
    sqlite_engine: AsyncEngine,
) -> None:
    """All 24 orders of arrival of created/reserved/paid/confirmed, each applied twice
    (at-least-once), give the same row: CONFIRMED, with customer, total, placed time and
    the latest event, and four events applied."""
    sessions = session_factory(sqlite_engine)
    events_by_order: dict[str, list[ReceivedEvent]] = {}
    for permutation in itertools.permutations(range(4)):
        order_id = str(uuid.uuid4())
        events = confirmed_order(order_id)
        events_by_order[order_id] = events
        arrival = [events[i] for i in permutation]
        await apply_all(sessions, arrival + arrival)

    async with sessions() as session:
        rows = await all_history(session)
        listed = await customer_history(session, "customer-7")
    assert len(rows) == len(listed) == 24
    for row in rows:
        last = events_by_order[row.order_id][-1]
        assert (row.status, row.customer_id, str(row.total_amount), row.currency) == (
            "CONFIRMED",
            "customer-7",
            "31.00",
            "EUR",
        )
        assert (row.placed_at, row.updated_at) == (STARTED, STARTED + timedelta(seconds=3))
        assert (row.last_event_type, row.last_event_id) == ("OrderConfirmed", last.event_id)
        assert row.events_applied == 4


async def test_a_cancel_after_payment_wins_over_a_late_payment_event(
    sqlite_engine: AsyncEngine,
) -> None:
    """CANCELLED is final: a PaymentProcessed read after it (another topic) does not
    bring the order back to PAID, while one read before it is overtaken by the cancel."""
    sessions = session_factory(sqlite_engine)
    order_id = str(uuid.uuid4())
    created, reserved, paid, _ = confirmed_order(order_id)
    cancelled = received("OrderCancelled", order_id, 4, reason="customer")
    await apply_all(sessions, [created, reserved, cancelled, paid])
    async with sessions() as session:
        [row] = await all_history(session)
    assert (row.status, row.last_event_type, row.events_applied) == (
        "CANCELLED",
        "OrderCancelled",
        4,
    )
