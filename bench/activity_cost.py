"""CPU and SQL statements per call of the hot-path activities, on a throwaway PostgreSQL.

    python -m bench.activity_cost [--calls 300]

Each order goes through reserve_inventory, charge_payment and the conclusion
(``conclude_order``, or ``notify_customer`` on code that predates it), called on the
activity classes directly: no Temporal, no network to the provider (the simulated gateway
in memory), notices written to the log channel. CPU is ``time.process_time()`` of this
process around each call (the server's own CPU is not counted); statements are counted by
a ``before_cursor_execute`` listener on the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.inventory import InventoryActivities
from activities.notifications import NotificationActivities
from activities.payments import PaymentActivities
from config.settings import DatabaseSettings, RestockSettings
from devstack.postgres import PostgresCluster
from gateways.notification_channels import LogChannel
from gateways.simulated_payment import SimulatedPaymentGateway
from messages.activities import ChargePaymentInput, NotifyCustomerInput, ReserveInventoryInput
from messages.saga import OrderLine, OrderSnapshot, PaymentInfo
from persistence.database import create_engine, session_factory
from persistence.migrate import upgrade
from persistence.tables import InventoryRow, ProductRow

PRODUCTS = ("sku-bench-a", "sku-bench-b")
WARM_UP = 20


class Counter:
    """SQL statements sent on ``engine`` since the last ``take``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


def order(index: int) -> OrderSnapshot:
    return OrderSnapshot(
        order_id=str(uuid.uuid4()),
        customer_id=f"customer-{index % 50}",
        customer_email="customer@example.com",
        currency="EUR",
        lines=[
            OrderLine(product_id=sku, quantity=1, unit_price=Decimal("10.00")) for sku in PRODUCTS
        ],
        payment=PaymentInfo(token="tok_visa"),  # noqa: S106 - the simulated provider's test card
        placed_at=datetime.now(UTC),
    )


async def seed(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session, session.begin():
        for sku in PRODUCTS:
            session.add(ProductRow(id=sku, name=sku, unit_price=Decimal("10.00"), currency="EUR"))
        await session.flush()
        for sku in PRODUCTS:
            session.add(InventoryRow(product_id=sku, quantity=1_000_000))


async def measure(url: str, calls: int) -> dict[str, tuple[float, float]]:
    engine = create_engine(DatabaseSettings(url=url, pool_size=2, max_overflow=0))
    await seed(engine)
    sessions = session_factory(engine)
    inventory = InventoryActivities(sessions, RestockSettings())
    payments = PaymentActivities(sessions, SimulatedPaymentGateway())
    notifications = NotificationActivities(sessions, LogChannel())
    conclude: Callable[[NotifyCustomerInput], Awaitable[Any]] = getattr(
        notifications, "conclude_order", notifications.notify_customer
    )
    counter = Counter(engine)
    samples: dict[str, list[tuple[float, int]]] = {"reserve": [], "charge": [], "conclude": []}

    async def timed(name: str, call: Awaitable[Any], keep: bool) -> None:
        counter.take()
        started = time.process_time()
        await call
        spent = time.process_time() - started
        if keep:
            samples[name].append((spent, counter.take()))

    for index in range(WARM_UP + calls):
        keep = index >= WARM_UP
        snapshot = order(index)
        await timed(
            "reserve", inventory.reserve_inventory(ReserveInventoryInput(order=snapshot)), keep
        )
        charge = ChargePaymentInput(
            order_id=snapshot.order_id,
            customer_id=snapshot.customer_id,
            amount=snapshot.total,
            currency=snapshot.currency,
            payment=snapshot.payment,
        )
        await timed("charge", payments.charge_payment(charge), keep)
        notice = NotifyCustomerInput(
            order=snapshot, notification_type="ORDER_CONFIRMED", conclude_status="CONFIRMED"
        )
        await timed("conclude", conclude(notice), keep)
    await engine.dispose()
    return {
        name: (
            statistics.median(spent for spent, _ in rows) * 1000,
            statistics.mean(count for _, count in rows),
        )
        for name, rows in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="activity-cost-", dir="/dev/shm") as scratch:
        cluster = PostgresCluster(Path(scratch) / "data", durable=False)
        cluster.start()
        try:
            url = cluster.create_database("activity_cost")
            upgrade(url)
            figures = asyncio.run(measure(url, args.calls))
        finally:
            cluster.stop()
    lines = [f"{'activity':<10} {'CPU ms (median)':>16} {'statements':>11}"]
    lines += [
        f"{name:<10} {cpu_ms:>16.2f} {statements:>11.1f}"
        for name, (cpu_ms, statements) in figures.items()
    ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
