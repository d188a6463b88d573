"""A worker process killed mid-activity: the saga still ends, with no double charge and no
lost or duplicated reservation ("Failure is normal" in DESIGN.md).

The workers are the real ``python -m workers`` processes on a real Temporal dev server and
PostgreSQL, calling the one simulated provider service (``python -m provider``) over HTTP
as the processes of a worker pool share one real provider. Each test kills one with
SIGKILL at a chosen moment and starts a fresh one; Temporal retries the lost attempt once
its start-to-close timeout expires (charge 15 s, reserve 10 s), so each test takes 20-35 s.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from temporalio.client import Client, WorkflowHandle

from devstack.payment_provider import PaymentProviderService
from devstack.process import ManagedProcess
from devstack.temporal import TemporalDevServer
from gateways.http_payment import HttpPaymentGateway
from gateways.payment_gateway import GatewayCharge
from messages import queues
from messages.queues import TaskQueues, order_workflow_id
from messages.saga import OrderSagaInput, OrderSnapshot, SagaResult
from persistence.tables import InventoryReservationRow, PaymentRow
from tests.integration.saga_data import Sessions, add_product, event_types, snapshot, stock_of
from workflows.order_saga import OrderSaga

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
# Everything but payments in one process: the saga, reservations and notices.
ORDERS_GROUP = (queues.ORDERS, queues.INVENTORY, queues.NOTIFICATIONS)
PAYMENTS_GROUP = (queues.PAYMENTS,)
# Bounds for a failing run, not durations: a worker takes 3-20 s to start on a busy 2-core VM.
SAGA_TIMEOUT = 90.0
STEP_TIMEOUT = 60.0


class Workers:
    """The test's worker processes: started from one environment, all stopped at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path, prefix: str) -> None:
        self.env = env
        self.prefix = prefix
        self.log_dir = log_dir
        self.started: list[ManagedProcess] = []
        self.killed: list[ManagedProcess] = []

    def start(self, *queue_names: str) -> ManagedProcess:
        name = f"worker-{'-'.join(queue_names)}-{len(self.started)}"
        args = [sys.executable, "-m", "workers"]
        for queue_name in queue_names:
            args += ["--queue", queue_name]
        process = ManagedProcess(name, args, self.log_dir / f"{name}.log", env=self.env, cwd=ROOT)
        self.started.append(process.start())
        return process

    def kill(self, process: ManagedProcess) -> None:
        """SIGKILL, as a crash (or the OOM killer) would: nothing gets to clean up."""
        process.kill()
        self.killed.append(process)

    def check_alive(self) -> None:
        """Fail with the log of any worker that died on its own."""
        for process in self.started:
            if process not in self.killed:
                process.check_alive()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log_tail(15)}" for p in self.started)

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


class Provider:
    """The provider service the test's workers share, and the test's own view of it."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.service: PaymentProviderService | None = None

    def start(self, latency_ms: int) -> str:
        """Start it with this latency (half on the way there, half on the way back)."""
        assert self.service is None, "one provider per test"
        env = {
            "ORDERS_PAYMENTS__GATEWAY_LATENCY_MS": str(latency_ms),
            "ORDERS_PAYMENTS__GATEWAY_FAILURE_RATE": "0",
        }
        self.service = PaymentProviderService(self.run_dir, env=env).start()
        return self.service.url

    def _client(self) -> HttpPaymentGateway:
        assert self.service is not None, "the workers have not been made yet"
        return HttpPaymentGateway(self.service.url)

    async def charge_count(self, key: str) -> int:
        client = self._client()
        try:
            return await client.charge_count(key)
        finally:
            await client.aclose()

    async def find_charge(self, key: str) -> GatewayCharge | None:
        client = self._client()
        try:
            return await client.find_charge(key)
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()


@pytest.fixture
def prefix() -> str:
    return f"crash-{uuid.uuid4().hex[:8]}-"


def worker_env(
    pg_url: str, server: TemporalDevServer, prefix: str, provider_url: str
) -> dict[str, str]:
    return {
        "ORDERS_DATABASE__URL": pg_url,
        "ORDERS_TEMPORAL__ADDRESS": server.address,
        "ORDERS_TEMPORAL__TASK_QUEUE_PREFIX": prefix,
        "ORDERS_TEMPORAL__METRICS_BIND_ADDRESS": "",
        "ORDERS_TELEMETRY__METRICS_PORT": "0",
        "ORDERS_PAYMENTS__PROVIDER_URL": provider_url,
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def make_workers(
    pg_url: str,
    temporal_server: TemporalDevServer,
    prefix: str,
    provider: Provider,
    tmp_path: Path,
) -> Iterator[Callable[[int], Workers]]:
    """``make_workers(latency_ms)``: a crew of real worker processes for this test, and
    the provider service (with that latency) they share."""
    crews: list[Workers] = []

    def make(latency_ms: int) -> Workers:
        env = worker_env(pg_url, temporal_server, prefix, provider.start(latency_ms))
        crews.append(Workers(env, tmp_path / "logs", prefix))
        return crews[-1]

    yield make
    for crew in crews:
        crew.stop_all()


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    shared = Provider(tmp_path / "provider")
    yield shared
    shared.stop()


async def wait_for(
    check: Callable[[], Awaitable[bool]], workers: Workers, what: str, seconds: float = STEP_TIMEOUT
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        workers.check_alive()
        if loop.time() > deadline:
            pytest.fail(f"{what}: not after {seconds:.0f}s\n{workers.logs()}")
        await asyncio.sleep(0.05)


async def start_saga(
    client: Client, order: OrderSnapshot, workers: Workers
) -> WorkflowHandle[OrderSaga, SagaResult]:
    """The saga as the API starts it, on the queues the test's workers poll."""
    saga_queues = TaskQueues.with_prefix(workers.prefix)
    return await client.start_workflow(
        OrderSaga.run,
        OrderSagaInput(order=order, queues=saga_queues),
        id=order_workflow_id(order.order_id),
        task_queue=saga_queues.orders,
        # A failed test leaves nothing running on the session's server for long.
        execution_timeout=timedelta(minutes=3),
    )


async def outcome(handle: WorkflowHandle[OrderSaga, SagaResult], workers: Workers) -> SagaResult:
    """The saga's result, failing early (with the logs) if a worker dies on its own."""
    result = asyncio.ensure_future(handle.result())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SAGA_TIMEOUT
    try:
        while not result.done():
            workers.check_alive()
            if loop.time() > deadline:
                pytest.fail(f"saga not finished after {SAGA_TIMEOUT:.0f}s\n{workers.logs()}")
            await asyncio.wait({result}, timeout=0.25)
        return result.result()
    finally:
        result.cancel()


async def payment_rows(sessions: Sessions, order_id: str) -> list[PaymentRow]:
    async with sessions() as session:
        rows = await session.exec(select(PaymentRow).where(col(PaymentRow.order_id) == order_id))
        return list(rows.all())


async def reservations(sessions: Sessions, order_id: str) -> dict[str, int]:
    """The order's reservation rows as {product: quantity}, failing on a duplicate."""
    async with sessions() as session:
        rows = list(
            (
                await session.exec(
                    select(InventoryReservationRow).where(
                        col(InventoryReservationRow.order_id) == order_id
                    )
                )
            ).all()
        )
    held = {row.product_id: row.quantity for row in rows if row.status == "RESERVED"}
    assert len(held) == len(rows), f"duplicate or released reservation rows: {rows}"
    return held


async def assert_reserved_once(sessions: Sessions, order: OrderSnapshot) -> None:
    """One reservation row per product with the ordered quantity, the stock held once,
    one InventoryReserved for the order."""
    ordered = {line.product_id: line.quantity for line in order.lines}
    assert await reservations(sessions, order.order_id) == ordered
    for product_id, quantity in ordered.items():
        assert (await stock_of(sessions, product_id)).reserved == quantity
    events = await event_types(sessions, order.order_id)
    assert (events.count("OrderCreated"), events.count("InventoryReserved")) == (1, 1)


async def test_payments_worker_killed_after_the_provider_charged_charges_once(
    temporal_client: Client,
    pg_sessions: Sessions,
    make_workers: Callable[[int], Workers],
    provider: Provider,
) -> None:
    """The payments worker is SIGKILLed after the provider took the money and before the
    worker heard back (so nothing recorded it). A fresh payments worker runs the retry,
    which meets the provider's idempotency key at the shared provider service: the saga
    ends CONFIRMED with one charge at the provider, one payment row, and the stock reserved
    exactly once."""
    await add_product(pg_sessions, "sku-crash-a", 10, price="12.50")
    await add_product(pg_sessions, "sku-crash-b", 10, price="12.50")
    order = snapshot(("sku-crash-a", 2), ("sku-crash-b", 1), price="12.50")
    key = f"order-{order.order_id}"
    # 3 s of latency: 1.5 s to reach the provider, 1.5 s for the answer to come back.
    workers = make_workers(3000)
    workers.start(*ORDERS_GROUP)
    payments = workers.start(*PAYMENTS_GROUP)

    handle = await start_saga(temporal_client, order, workers)

    async def charged() -> bool:
        return await provider.charge_count(key) > 0

    await wait_for(charged, workers, "the provider charging the order")
    workers.kill(payments)
    # The kill landed in the answer's way back: charged at the provider, recorded nowhere.
    assert await payment_rows(pg_sessions, order.order_id) == []
    workers.start(*PAYMENTS_GROUP)

    result = await outcome(handle, workers)

    assert result.status == "CONFIRMED", result.reason
    assert await provider.charge_count(key) == 1
    rows = await payment_rows(pg_sessions, order.order_id)
    assert [(row.status, row.amount) for row in rows] == [("CAPTURED", order.total)]
    at_provider = await provider.find_charge(key)
    assert at_provider is not None
    assert rows[0].gateway_reference == at_provider.reference
    assert (await event_types(pg_sessions, order.order_id)).count("PaymentProcessed") == 1
    await assert_reserved_once(pg_sessions, order)


async def test_inventory_worker_killed_mid_reservation_reserves_once(
    temporal_client: Client,
    pg_engine: AsyncEngine,
    pg_sessions: Sessions,
    make_workers: Callable[[int], Workers],
    provider: Provider,
) -> None:
    """The orders+inventory worker is SIGKILLed while its reservation is in flight (it has
    taken the first product's units and waits on a lock the test holds on the second's
    stock row). The killed attempt's transaction never commits: once the lock is released
    it is rolled back, leaving no order, no reservation and no stock held. A fresh worker
    runs the retry, which reserves once: the saga ends CONFIRMED with one reservation row
    per product, the stock reserved by exactly the ordered quantities, and one charge."""
    await add_product(pg_sessions, "sku-lock-a", 10)
    await add_product(pg_sessions, "sku-lock-b", 10)
    order = snapshot(("sku-lock-a", 3), ("sku-lock-b", 2))
    workers = make_workers(0)

    async def database_count(query: str) -> int:
        async with pg_engine.connect() as conn:
            return int((await conn.execute(text(query))).scalar_one())

    async def reservation_blocked() -> bool:
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND wait_event_type = 'Lock'"
        )
        return await database_count(waiting) > 0

    async def killed_attempt_ended() -> bool:
        in_transaction = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            " AND xact_start IS NOT NULL"
        )
        return await database_count(in_transaction) == 0

    async with pg_engine.connect() as locker:
        # Products are reserved in id order, so the attempt takes sku-lock-a, then blocks.
        await locker.execute(
            text("SELECT 1 FROM inventory WHERE product_id = 'sku-lock-b' FOR UPDATE")
        )
        orders_worker = workers.start(*ORDERS_GROUP)
        workers.start(*PAYMENTS_GROUP)
        handle = await start_saga(temporal_client, order, workers)
        await wait_for(reservation_blocked, workers, "the reservation waiting on the lock")
        workers.kill(orders_worker)
        await locker.rollback()

    # The dead worker's backend gets the lock, finds its client gone and rolls back.
    await wait_for(killed_attempt_ended, workers, "the killed attempt's transaction ending")
    assert await reservations(pg_sessions, order.order_id) == {}
    assert (await stock_of(pg_sessions, "sku-lock-a")).reserved == 0
    assert await event_types(pg_sessions, order.order_id) == []
    workers.start(*ORDERS_GROUP)

    result = await outcome(handle, workers)

    assert result.status == "CONFIRMED", result.reason
    await assert_reserved_once(pg_sessions, order)
    assert await provider.charge_count(f"order-{order.order_id}") == 1
    assert len(await payment_rows(pg_sessions, order.order_id)) == 1
