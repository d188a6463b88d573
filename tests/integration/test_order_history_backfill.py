"""Backfill from the event store (``python -m tools.republish``) and dead-letter re-drive
(``python -m tools.redrive_dlq``) with the order-history consumer, on the real broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import DatabaseSettings, KafkaSettings
from consumers.order_history.service import build, handle
from devstack.kafka import KafkaBroker
from devstack.postgres import PostgresCluster
from outbox.cloudevents import ReceivedEvent
from persistence.database import create_engine, session_factory
from tests.fixtures.kafka import consume_all
from tests.integration.consumer_helpers import (
    CONSUMED_PER_ORDER,
    comparable,
    consume_until,
    consumer_settings,
    history,
    inbox_count,
    publish_pending,
    record_orders,
)
from tests.integration.outbox_helpers import (
    ROOT,
    header_map,
    kafka_settings,
    relay_env,
    wait_for,
)

pytestmark = pytest.mark.integration
ORDERS = 100


@pytest_asyncio.fixture(loop_scope="session")
async def other_database(
    pg_cluster: PostgresCluster, pg_template: str
) -> AsyncIterator[tuple[str, async_sessionmaker[AsyncSession]]]:
    """A second migrated database: the new consumer's own, beside the event store's."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = pg_cluster.create_database(name, template=pg_template)
    engine = create_engine(DatabaseSettings(url=url, pool_size=2, max_overflow=2))
    try:
        yield url, session_factory(engine)
    finally:
        await engine.dispose()
        pg_cluster.drop_database(name)


async def run_tool(module: str, args: list[str], database_url: str, kafka: KafkaSettings) -> str:
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=relay_env(database_url, kafka, ORDERS_KAFKA__EVENT_SOURCE=kafka.event_source),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


async def test_a_consumer_started_later_backfills_to_the_same_read_model(
    kafka_broker: KafkaBroker,
    pg_url: str,
    pg_sessions: async_sessionmaker[AsyncSession],
    other_database: tuple[str, async_sessionmaker[AsyncSession]],
) -> None:
    """100 orders' events consumed live build one read model; a consumer started afterwards
    on a topic of its own, filled by ``tools.republish`` from the event store, ends with
    the same rows. The copies carry the originals' ce_id, headers and bytes."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    await record_orders(pg_sessions, ORDERS)
    await publish_pending(pg_sessions, kafka, pg_url)
    live = build(consumer_settings(kafka, pg_url), pg_sessions)
    try:
        await consume_until(live, ORDERS * CONSUMED_PER_ORDER, within=180)
    finally:
        await live.close()

    backfill_topic = f"order-history-backfill-{uuid.uuid4().hex[:8]}"
    types = ["--aggregate-type", "order", "--aggregate-type", "inventory"]
    types += ["--aggregate-type", "payment"]
    output = await run_tool("tools.republish", ["--topic", backfill_topic, *types], pg_url, kafka)
    assert f"republished {ORDERS * CONSUMED_PER_ORDER} events" in output
    other_url, other_sessions = other_database
    late = build(consumer_settings(kafka, other_url, topics=[backfill_topic]), other_sessions)
    try:
        totals = await consume_until(late, ORDERS * CONSUMED_PER_ORDER, within=180, quiet_polls=2)
    finally:
        await late.close()

    assert (totals.applied, totals.duplicates) == (ORDERS * CONSUMED_PER_ORDER, 0)
    live_rows, late_rows = await history(pg_sessions), await history(other_sessions)
    assert len(live_rows) == ORDERS
    assert {row.events_applied for row in live_rows} == {CONSUMED_PER_ORDER}
    assert comparable(late_rows) == comparable(live_rows)
    originals = await asyncio.to_thread(
        consume_all, kafka.bootstrap_servers, kafka.order_topic, 2 * ORDERS, 30
    )
    copies = await asyncio.to_thread(
        consume_all, kafka.bootstrap_servers, backfill_topic, ORDERS * CONSUMED_PER_ORDER, 30
    )
    by_id = {header_map(m)["ce_id"]: m for m in copies}
    for original in originals:
        copy = by_id[header_map(original)["ce_id"]]
        assert copy.headers() == original.headers()
        assert (copy.key(), copy.value()) == (original.key(), original.value())


async def test_a_dead_letter_re_drive_after_the_fix_applies_the_parked_message_once(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A handler bug parks an order's OrderConfirmed after its retries; once fixed,
    ``tools.redrive_dlq`` puts it back on order-events and the consumer applies it, once.
    A second re-drive finds nothing left to send."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers, partitions=1)
    settings = consumer_settings(kafka, pg_url, max_attempts=2)
    broken_order, other_order = await record_orders(pg_sessions, 2)
    await publish_pending(pg_sessions, kafka, pg_url)
    fixed = False

    async def buggy(session: AsyncSession, event: ReceivedEvent) -> None:
        if not fixed and event.event_type == "OrderConfirmed" and event.key == broken_order:
            raise ValueError("a bug in the handler")
        await handle(session, event)

    built = build(settings, pg_sessions, buggy)
    stop = asyncio.Event()
    runner = asyncio.create_task(built.consumer.run(stop, poll_seconds=0.2))
    dlq = f"{kafka.order_topic}.dlq"
    try:
        await wait_for(
            lambda: applied_at_least(pg_sessions, 2 * CONSUMED_PER_ORDER - 1), 90, "all but one"
        )
        parked = await asyncio.to_thread(consume_all, kafka.bootstrap_servers, dlq, 1, 30)
        rows = {row.order_id: row for row in await history(pg_sessions)}
        assert (rows[broken_order].status, rows[other_order].status) == ("PAID", "CONFIRMED")

        fixed = True
        output = await run_tool("tools.redrive_dlq", ["--topic", dlq], pg_url, kafka)
        assert "re-drove 1 messages" in output
        await wait_for(
            lambda: applied_at_least(pg_sessions, 2 * CONSUMED_PER_ORDER), 60, "re-driven"
        )
        again = await run_tool("tools.redrive_dlq", ["--topic", dlq], pg_url, kafka)
        await asyncio.sleep(2)  # room for a second application to show, if there were one
    finally:
        stop.set()
        await asyncio.wait_for(runner, 30)
        await built.close()

    assert len(parked) == 1
    assert header_map(parked[0])["ce_type"] == "com.example.orders.OrderConfirmed.v1"
    assert "re-drove 0 messages" in again
    rows = {row.order_id: row for row in await history(pg_sessions)}
    assert rows[broken_order].status == "CONFIRMED"
    assert {row.events_applied for row in rows.values()} == {CONSUMED_PER_ORDER}
    assert await inbox_count(pg_sessions, settings.consumer.name) == 2 * CONSUMED_PER_ORDER
    still_parked = await asyncio.to_thread(consume_all, kafka.bootstrap_servers, dlq, 2, 5)
    assert len(still_parked) == 1  # applied once: not parked a second time


async def applied_at_least(sessions: async_sessionmaker[AsyncSession], count: int) -> bool:
    return sum(row.events_applied for row in await history(sessions)) >= count
