"""The hot path (reserve → charge → conclude) on both backends, and its round trips.

PostgreSQL writes each step's rows and events in one statement (data-modifying CTEs);
SQLite, the dev mode, runs the same writes one by one. Both must leave the same record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.inventory import InventoryActivities
from activities.notifications import NotificationActivities
from activities.payments import PaymentActivities
from config.settings import DatabaseSettings, RestockSettings
from gateways.notification_channels import LogChannel
from gateways.simulated_payment import SimulatedPaymentGateway
from messages.activities import ChargePaymentInput, NotifyCustomerInput, ReserveInventoryInput
from messages.saga import OrderSnapshot
from persistence.database import create_engine, session_factory
from persistence.migrate import upgrade
from tests.integration.saga_data import (
    Sessions,
    add_product,
    event_types,
    order_of,
    snapshot,
    stock_of,
)

pytestmark = pytest.mark.integration

# What each step sends on PostgreSQL for a two-line order (a new order, nothing to retry):
# a regression guard on the round trips, which are most of an activity's cost.
STATEMENTS = {"reserve": 4, "charge": 3, "conclude": 3}


@pytest_asyncio.fixture(loop_scope="session")
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    upgrade(url)
    engine = create_engine(DatabaseSettings(url=url))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest) -> AsyncEngine:
    name = "pg_engine" if request.param == "postgresql" else "sqlite_engine"
    found: AsyncEngine = request.getfixturevalue(name)
    return found


class StatementCount:
    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        self._engine = engine

    def _seen(self, *_: Any) -> None:
        self.count += 1

    def __enter__(self) -> StatementCount:
        event.listen(self._engine.sync_engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self._engine.sync_engine, "before_cursor_execute", self._seen)


def charge_of(order: OrderSnapshot) -> ChargePaymentInput:
    return ChargePaymentInput(
        order_id=order.order_id,
        customer_id=order.customer_id,
        amount=order.total,
        currency=order.currency,
        payment=order.payment,
    )


def confirmation(order: OrderSnapshot) -> NotifyCustomerInput:
    return NotifyCustomerInput(
        order=order, notification_type="ORDER_CONFIRMED", conclude_status="CONFIRMED"
    )


async def run_hot_path(
    sessions: Sessions, engine: AsyncEngine, order: OrderSnapshot
) -> dict[str, int]:
    """Each step once, then again (a retry after a lost reply); the statements per step."""
    inventory = InventoryActivities(sessions, RestockSettings())
    payments = PaymentActivities(sessions, SimulatedPaymentGateway())
    notices = NotificationActivities(sessions, LogChannel())
    counts: dict[str, int] = {}
    steps: dict[str, Any] = {
        "reserve": (inventory.reserve_inventory, ReserveInventoryInput(order=order)),
        "charge": (payments.charge_payment, charge_of(order)),
        "conclude": (notices.conclude_order, confirmation(order)),
    }
    for name, (step, arg) in steps.items():
        with StatementCount(engine) as counted:
            first = await step(arg)
        counts[name] = counted.count
        assert await step(arg) == first
    return counts


@pytest.fixture
def sessions(engine: AsyncEngine) -> Sessions:
    return session_factory(engine)


async def test_the_hot_path_records_the_same_order_on_both_backends(
    sessions: Sessions, engine: AsyncEngine
) -> None:
    """Reserved, paid, confirmed and notified once, with the order's timeline in order,
    whichever backend runs it; each retry answers as the first call did."""
    await add_product(sessions, "sku-a", 5, reorder_point=5, reorder_quantity=10)
    await add_product(sessions, "sku-b", 5)
    order = snapshot(("sku-a", 2), ("sku-b", 1))

    await run_hot_path(sessions, engine, order)

    recorded = await order_of(sessions, order.order_id)
    assert recorded is not None
    assert recorded.status == "CONFIRMED"
    assert (await stock_of(sessions, "sku-a")).reserved == 2
    assert (await stock_of(sessions, "sku-b")).reserved == 1
    assert await event_types(sessions, order.order_id) == [
        "OrderCreated",
        "InventoryReserved",
        "PaymentProcessed",
        "OrderConfirmed",
        "NotificationSent",
    ]
    assert await event_types(sessions, "sku-a") == ["LowStockDetected"]


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
async def test_each_hot_path_step_is_a_few_round_trips_on_postgresql(
    sessions: Sessions, engine: AsyncEngine
) -> None:
    """Reserve, charge and conclude send no more statements than they do today."""
    await add_product(sessions, "sku-a", 5)
    await add_product(sessions, "sku-b", 5)

    counts = await run_hot_path(sessions, engine, snapshot(("sku-a", 1), ("sku-b", 1)))

    grown = {step: count for step, count in counts.items() if count > STATEMENTS[step]}
    assert not grown, f"more statements than {STATEMENTS}: {grown}"
