"""Shared pieces of the outbox tests: settings with unique topics, an order's events,
running relays, reading topics back, and the Java clients' partitioner to check against."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from confluent_kafka import Message
from sqlalchemy import Column, MetaData, String, Table, Uuid, insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import KafkaSettings, OutboxSettings
from models.actor import SYSTEM, Actor
from models.events import (
    DomainEvent,
    EventItem,
    InventoryReserved,
    NotificationSent,
    OrderConfirmed,
    OrderCreated,
    PaymentProcessed,
)
from outbox.cloudevents import ReceivedEvent
from outbox.consumer import InboxConsumer, PollResult
from outbox.lag import outbox_lag
from outbox.relay import OutboxRelay
from outbox.topics import topics_by_aggregate
from persistence.batch import Batch
from persistence.event_store import current_versions
from persistence.tables import EventRow
from tests.fixtures.kafka import consume_all

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
# Small batches and a short poll, so that tests exercise several batches quickly.
FAST_OUTBOX = OutboxSettings(batch_size=50, poll_interval_seconds=0.05)
ROOT = Path(__file__).resolve().parents[2]


def relay_env(database_url: str, kafka: KafkaSettings, **extra: str) -> dict[str, str]:
    """Environment for ``python -m outbox`` as a deployment would set it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERS_", "KAFKA_"))}
    env.pop("DATABASE_URL", None)
    env |= {
        "ORDERS_DATABASE__URL": database_url,
        "ORDERS_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "ORDERS_KAFKA__ORDER_TOPIC": kafka.order_topic,
        "ORDERS_KAFKA__INVENTORY_TOPIC": kafka.inventory_topic,
        "ORDERS_KAFKA__PAYMENT_TOPIC": kafka.payment_topic,
        "ORDERS_KAFKA__NOTIFICATION_TOPIC": kafka.notification_topic,
        "ORDERS_OUTBOX__POLL_INTERVAL_SECONDS": "0.05",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    return env


def kafka_settings(bootstrap_servers: str, partitions: int = 3) -> KafkaSettings:
    """Settings with topic names of this test's own: the broker is shared by the session."""
    suffix = uuid.uuid4().hex[:10]
    return KafkaSettings(
        bootstrap_servers=bootstrap_servers,
        order_topic=f"order-events-{suffix}",
        inventory_topic=f"inventory-events-{suffix}",
        payment_topic=f"payment-events-{suffix}",
        notification_topic=f"notification-events-{suffix}",
        partitions=partitions,
        event_source="/order-saga/tests",
    )


def order_flow(order_id: str) -> list[DomainEvent]:
    """The happy path of one order, as the saga's activities record it."""
    line = EventItem(product_id="sku-espresso-beans", quantity=2, unit_price=Decimal("12.50"))
    return [
        OrderCreated(
            order_id=order_id,
            customer_id="customer-1",
            items=(line,),
            total_amount=Decimal("25.00"),
            currency="EUR",
        ),
        InventoryReserved(
            order_id=order_id, items=(EventItem(product_id="sku-espresso-beans", quantity=2),)
        ),
        PaymentProcessed(
            order_id=order_id,
            payment_id=f"pay-{order_id}",
            amount=Decimal("25.00"),
            currency="EUR",
            status="CAPTURED",
        ),
        NotificationSent(
            notification_id=f"ntf-{order_id}",
            order_id=order_id,
            customer_id="customer-1",
            notification_type="ORDER_CONFIRMED",
            channel="log",
        ),
        OrderConfirmed(order_id=order_id),
    ]


async def append(
    sessions: async_sessionmaker[AsyncSession],
    events: Sequence[DomainEvent],
    traceparent: str | None = None,
    actor: Actor = SYSTEM,
) -> list[EventRow]:
    """Append in one committed transaction, as an activity does with its state change;
    the rows it appended, in append order."""
    aggregate_ids = list(dict.fromkeys(event.aggregate_id for event in events))
    async with sessions() as session, session.begin():
        before = await current_versions(session, aggregate_ids)
        batch = Batch(session)
        batch.add_events(events, datetime.now(UTC), actor=actor, traceparent=traceparent)
        await batch.send()
        statement = (
            select(EventRow)
            .where(col(EventRow.aggregate_id).in_(aggregate_ids))
            .order_by(col(EventRow.position))
        )
        rows = (await session.exec(statement)).all()
    return [row for row in rows if row.version > before.get(row.aggregate_id, 0)]


async def append_interleaved(
    sessions: async_sessionmaker[AsyncSession], order_ids: Iterable[str]
) -> list[EventRow]:
    """Each order's flow, step by step across the orders: positions of orders interleave."""
    flows = [order_flow(order_id) for order_id in order_ids]
    rows: list[EventRow] = []
    for step in range(len(flows[0])):
        for flow in flows:
            rows += await append(sessions, [flow[step]], traceparent=TRACEPARENT)
    return rows


async def all_rows(sessions: async_sessionmaker[AsyncSession]) -> list[EventRow]:
    async with sessions() as session:
        return list((await session.exec(select(EventRow))).all())


async def wait_for(check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    """Poll ``check`` until true; returns the seconds it took; fails the test after ``within``."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def wait_until_published(
    sessions: async_sessionmaker[AsyncSession], within: float = 60.0
) -> float:
    async def drained() -> bool:
        async with sessions() as session:
            return (await outbox_lag(session)).unpublished == 0

    return await wait_for(drained, within, "every event marked published")


@contextlib.asynccontextmanager
async def running(*relays: OutboxRelay) -> AsyncIterator[list[asyncio.Event]]:
    """Run the relays as tasks; on exit stop them gracefully and re-raise any crash."""
    stops = [asyncio.Event() for _ in relays]
    tasks = [asyncio.create_task(r.run(s)) for r, s in zip(relays, stops, strict=True)]
    try:
        yield stops
        for task in tasks:
            assert not task.done() or task.exception() is None, "a relay crashed"
    finally:
        for stop in stops:
            stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def read_topics(
    kafka: KafkaSettings, expected: dict[str, int], within: float = 30.0
) -> dict[str, list[Message]]:
    """Each topic's messages from the beginning (off the event loop: relays may be running)."""
    result = {}
    for topic, count in expected.items():
        result[topic] = await asyncio.to_thread(
            consume_all, kafka.bootstrap_servers, topic, count, within
        )
    return result


def expected_per_topic(kafka: KafkaSettings, rows: Iterable[EventRow]) -> dict[str, int]:
    counts = dict.fromkeys(topics_by_aggregate(kafka).values(), 0)
    for row in rows:
        counts[topics_by_aggregate(kafka)[row.aggregate_type]] += 1
    return counts


def header_map(message: Message) -> dict[str, str]:
    received = message.headers() or []
    pairs = received.items() if isinstance(received, dict) else received
    return {
        name: value.decode() if isinstance(value, bytes) else str(value) for name, value in pairs
    }


def assert_in_version_order_per_key(
    messages: Iterable[Message], rows_by_id: dict[str, EventRow]
) -> None:
    """Per topic and key: one partition, and the first occurrence of each event in version
    order (an order's versions count across all topics, so each topic sees a subsequence)."""
    by_key: dict[tuple[str | None, bytes], list[Message]] = defaultdict(list)
    for message in messages:
        by_key[(message.topic(), message.key() or b"")].append(message)
    for key, keyed in by_key.items():
        assert len({m.partition() for m in keyed}) == 1, f"{key!r} spread over partitions"
        first_seen: list[int] = []
        for message in sorted(keyed, key=lambda m: m.offset() or 0):
            version = rows_by_id[header_map(message)["ce_id"]].version
            if version not in first_seen:
                first_seen.append(version)
        assert first_seen == sorted(first_seen), f"{key!r} out of order: {first_seen}"


# A consumer's own table. No unique key on purpose: a double application would show.
EFFECTS = MetaData()
ORDER_HISTORY = Table(
    "order_history", EFFECTS, Column("event_id", Uuid), Column("event_type", String(128))
)


async def create_effects_table(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        connection = await session.connection()
        await connection.run_sync(EFFECTS.create_all)
        await session.commit()


async def record_effect(session: AsyncSession, event: ReceivedEvent) -> None:
    """The consumer's effect, in the transaction that also records the event in the inbox."""
    row = {"event_id": event.event_id, "event_type": event.event_type}
    await session.exec(insert(ORDER_HISTORY).values(row))


async def effect_ids(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        result = await session.exec(select(ORDER_HISTORY.c.event_id))
        return [str(event_id) for event_id in result.all()]


async def poll_until(consumer: InboxConsumer, messages: int, within: float = 60) -> PollResult:
    total = PollResult()

    async def seen_all() -> bool:
        result = await consumer.poll(seconds=0.5)
        total.applied += result.applied
        total.duplicates += result.duplicates
        total.skipped += result.skipped
        return total.applied + total.duplicates + total.skipped >= messages

    await wait_for(seen_all, within, f"{messages} messages consumed")
    return total
