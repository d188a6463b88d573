"""The saga with its real activities: real Temporal, real PostgreSQL, real SMTP.

The production workers run in this process so a test can drive the simulated payment
provider (declines, outages); everything else is the production code path.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowHandle

from config.settings import NotificationSettings, Settings, TemporalSettings
from gateways.payment_gateway import CircuitBreakerGateway
from gateways.simulated_payment import SimulatedPaymentGateway
from messages import queues
from messages.queues import TaskQueues, order_workflow_id
from messages.saga import CancelRequest, OrderSagaInput, OrderSnapshot, SagaResult
from models.order_status import OrderStatus
from persistence.tables import InventoryReservationRow, NotificationRow, PaymentRow
from tests.fixtures.smtp import SmtpServer
from tests.integration.invariant_facts import assert_invariants
from tests.integration.saga_data import add_product, order_of, snapshot, stock_of
from tests.workflows.fakes import CANCEL_SIGNAL
from workers.runner import build_workers
from workflows.order_saga import OrderSaga

Sessions = async_sessionmaker[AsyncSession]


@dataclass
class Rig:
    client: Client
    sessions: Sessions
    provider: SimulatedPaymentGateway
    smtp: SmtpServer
    queues: TaskQueues

    async def start(
        self, order: OrderSnapshot, cancel_at_start: bool = False
    ) -> WorkflowHandle[OrderSaga, SagaResult]:
        return await self.client.start_workflow(
            OrderSaga.run,
            OrderSagaInput(order=order, queues=self.queues),
            id=order_workflow_id(order.order_id),
            task_queue=self.queues.orders,
            start_signal=CANCEL_SIGNAL if cancel_at_start else None,
            start_signal_args=[CancelRequest(reason="customer")] if cancel_at_start else [],
        )

    async def run(self, order: OrderSnapshot) -> SagaResult:
        return await (await self.start(order)).result()

    async def count(self, table: type[PaymentRow | NotificationRow], order_id: str) -> int:
        async with self.sessions() as session:
            total = await session.exec(
                select(func.count()).select_from(table).where(col(table.order_id) == order_id)
            )
            return int(total.one())

    def mails_about(self, order_id: str) -> list[str]:
        return [str(m["Subject"]) for m in self.smtp.messages if order_id in m.get_content()]


@pytest_asyncio.fixture(loop_scope="session")
async def rig(
    temporal_client: Client,
    temporal_settings: TemporalSettings,
    pg_engine: AsyncEngine,
    pg_sessions: Sessions,
    smtp_server: SmtpServer,
) -> AsyncIterator[Rig]:
    """The production workers (workers.runner) on queues of this test's own, with a provider
    the test can drive and notices going to the test's SMTP server."""
    prefix = f"{uuid.uuid4()}-"
    settings = Settings(
        temporal=temporal_settings.model_copy(update={"task_queue_prefix": prefix}),
        notifications=NotificationSettings(
            channel="smtp", smtp_host=smtp_server.host, smtp_port=smtp_server.port
        ),
    )
    provider = SimulatedPaymentGateway()
    gateway = CircuitBreakerGateway(provider, failure_threshold=3, recovery_seconds=0.5)
    workers = build_workers(
        list(queues.ALL), temporal_client, pg_engine, settings, payment_gateway=gateway
    )
    async with AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        yield Rig(
            temporal_client, pg_sessions, provider, smtp_server, TaskQueues.with_prefix(prefix)
        )


async def test_happy_path_confirms_charges_once_and_mails_once(rig: Rig) -> None:
    """CONFIRMED in the saga and the read model; stock held; one charge; one e-mail."""
    await add_product(rig.sessions, "sku-a", stock=5)
    order = snapshot(("sku-a", 2))
    result = await rig.run(order)
    assert result.status == "CONFIRMED"
    await assert_invariants(rig.sessions, rig.provider, order, result)
    row = await order_of(rig.sessions, order.order_id)
    assert row is not None
    assert row.status == "CONFIRMED"
    assert (await stock_of(rig.sessions, "sku-a")).reserved == 2
    assert rig.provider.charge_count(f"order-{order.order_id}") == 1
    assert len(rig.mails_about(order.order_id)) == 1


async def test_out_of_stock_rejects_and_charges_nothing(rig: Rig) -> None:
    """Asking for more than is available: REJECTED, stock untouched, no payment row."""
    await add_product(rig.sessions, "sku-b", stock=1)
    order = snapshot(("sku-b", 2))
    result = await rig.run(order)
    assert result.status == "REJECTED"
    await assert_invariants(rig.sessions, rig.provider, order, result)
    assert (await stock_of(rig.sessions, "sku-b")).reserved == 0
    assert await rig.count(PaymentRow, order.order_id) == 0
    row = await order_of(rig.sessions, order.order_id)
    assert row is not None
    assert row.status == "REJECTED"


async def test_declined_card_releases_the_reservation(rig: Rig) -> None:
    """A declined card: PAYMENT_FAILED, reservation released, one payment-failed notice."""
    await add_product(rig.sessions, "sku-c", stock=3)
    order = snapshot(("sku-c", 1), token="tok_chargeDeclined")
    result = await rig.run(order)
    assert result.status == "PAYMENT_FAILED"
    await assert_invariants(rig.sessions, rig.provider, order, result)
    assert (await stock_of(rig.sessions, "sku-c")).reserved == 0
    row = await order_of(rig.sessions, order.order_id)
    assert row is not None
    assert row.status == "PAYMENT_FAILED"
    assert await rig.count(NotificationRow, order.order_id) == 1


async def test_gateway_down_for_a_while_then_back_completes_with_one_charge(rig: Rig) -> None:
    """The breaker fails fast during the outage; Temporal's backoff waits; one charge."""
    await add_product(rig.sessions, "sku-d", stock=3)
    rig.provider.outage(on=True)
    order = snapshot(("sku-d", 1))
    handle = await rig.start(order)
    # Several attempts fail (the breaker opens after three), however slow the machine.
    for _ in range(600):
        if rig.provider.calls >= 3:
            break
        await asyncio.sleep(0.1)
    calls_during_outage = rig.provider.calls
    rig.provider.outage(on=False)
    result = await handle.result()
    assert result.status == "CONFIRMED"
    await assert_invariants(rig.sessions, rig.provider, order, result)
    assert calls_during_outage >= 3
    assert rig.provider.charge_count(f"order-{order.order_id}") == 1


async def test_cancel_before_reserve_records_a_cancelled_order(rig: Rig) -> None:
    """Nothing is reserved or charged; the order still appears, CANCELLED."""
    await add_product(rig.sessions, "sku-e", stock=3)
    order = snapshot(("sku-e", 1))
    result = await (await rig.start(order, cancel_at_start=True)).result()
    assert result.status == "CANCELLED"
    await assert_invariants(rig.sessions, rig.provider, order, result)
    assert (await stock_of(rig.sessions, "sku-e")).reserved == 0
    row = await order_of(rig.sessions, order.order_id)
    assert row is not None
    assert row.status == "CANCELLED"


async def test_cancel_after_the_charge_refunds_and_releases(rig: Rig) -> None:
    """With the provider slow, a cancel lands during the charge: refund + release."""
    await add_product(rig.sessions, "sku-f", stock=3)
    order = snapshot(("sku-f", 2))
    # Slow the provider for this test only, so the cancel lands while the charge is in flight.
    rig.provider._latency = 3.0
    handle = await rig.start(order)
    for _ in range(600):
        if rig.provider.calls:
            break
        await asyncio.sleep(0.05)
    # The update answers whether the cancel was taken: accepted means it wins after the charge.
    outcome = await handle.execute_update(
        OrderSaga.request_cancel, CancelRequest(reason="changed my mind")
    )
    assert outcome.accepted, outcome
    result = await handle.result()
    assert result.status == "CANCELLED"
    await assert_invariants(rig.sessions, rig.provider, order, result)
    async with rig.sessions() as session:
        payment = (
            await session.exec(select(PaymentRow).where(col(PaymentRow.order_id) == order.order_id))
        ).one()
        reservations = (
            await session.exec(
                select(InventoryReservationRow).where(
                    col(InventoryReservationRow.order_id) == order.order_id
                )
            )
        ).all()
    assert payment.status == "REFUNDED"
    assert [r.status for r in reservations] == ["RELEASED"]
    assert (await stock_of(rig.sessions, "sku-f")).reserved == 0


async def test_many_orders_racing_for_the_last_units_sell_exactly_the_stock(rig: Rig) -> None:
    """12 sagas, 5 units: exactly 5 CONFIRMED, 7 REJECTED, stock never negative."""
    await add_product(rig.sessions, "sku-g", stock=5)
    orders = [snapshot(("sku-g", 1)) for _ in range(12)]
    results = await asyncio.gather(*(rig.run(order) for order in orders))
    for order, result in zip(orders, results, strict=True):
        await assert_invariants(rig.sessions, rig.provider, order, result)
    statuses = sorted(result.status for result in results)
    assert statuses.count(OrderStatus.CONFIRMED) == 5
    assert statuses.count(OrderStatus.REJECTED) == 7
    stock = await stock_of(rig.sessions, "sku-g")
    assert stock.reserved == 5
    assert stock.quantity - stock.reserved == 0
