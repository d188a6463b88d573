"""The dedup consumer (``outbox.consumer.InboxConsumer``) on a real broker and PostgreSQL.

Its core promise -- a duplicate delivery is applied once -- is proven together with the
relay's crash in ``test_outbox_failures.py``; these cover failing handlers and strangers.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from confluent_kafka import Producer
from opentelemetry import trace
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import DatabaseSettings, KafkaSettings
from devstack.kafka import KafkaBroker
from outbox.cloudevents import ReceivedEvent
from outbox.consumer import Handler, InboxConsumer, PollResult
from outbox.relay import build_relay
from outbox.topics import topics_by_aggregate
from persistence.tables import EventRow, InboxRow
from tests.integration.outbox_helpers import (
    FAST_OUTBOX,
    append,
    create_effects_table,
    effect_ids,
    kafka_settings,
    order_flow,
    record_effect,
    running,
    wait_for,
    wait_until_published,
)

pytestmark = pytest.mark.integration


async def publish(
    kafka: KafkaSettings, pg_url: str, sessions: async_sessionmaker[AsyncSession]
) -> list[EventRow]:
    rows = await append(sessions, order_flow(str(uuid.uuid4())))
    async with running(build_relay(sessions, DatabaseSettings(url=pg_url), kafka, FAST_OUTBOX)):
        await wait_until_published(sessions)
    return rows


def consumer_for(
    kafka: KafkaSettings,
    sessions: async_sessionmaker[AsyncSession],
    handler: Handler = record_effect,
    group: str | None = None,
) -> InboxConsumer:
    return InboxConsumer.connect(
        "order-history",
        bootstrap_servers=kafka.bootstrap_servers,
        topics=list(topics_by_aggregate(kafka).values()),
        sessions=sessions,
        handler=handler,
        group_id=group or f"order-history-{uuid.uuid4()}",
    )


async def inbox_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        statement = select(func.count()).select_from(InboxRow)
        return int((await session.exec(statement)).one())


async def test_a_failing_handler_is_retried_and_every_event_is_applied_once(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """When the handler fails on an event, its transaction (effect and inbox row) rolls
    back, the partition is rewound and the event is handled again on the next poll: in the
    end every event is applied exactly once, none skipped; and a new consumer in the same
    group finds nothing left, because offsets were committed after each success."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    rows = await publish(kafka, pg_url, pg_sessions)
    await create_effects_table(pg_sessions)
    failures: list[uuid.UUID] = []

    async def flaky(session: AsyncSession, event: ReceivedEvent) -> None:
        await record_effect(session, event)  # written, then rolled back with the failure
        if event.event_type == "PaymentProcessed" and not failures:
            failures.append(event.event_id)
            raise RuntimeError("the downstream store is briefly unavailable")

    group = f"order-history-{uuid.uuid4()}"
    consumer = consumer_for(kafka, pg_sessions, flaky, group)
    total, raised = PollResult(), 0
    try:

        async def all_applied() -> bool:
            nonlocal raised
            try:
                result = await consumer.poll(seconds=0.5)
            except RuntimeError:
                raised += 1
                return False
            total.applied += result.applied
            total.duplicates += result.duplicates
            return total.applied == len(rows)

        await wait_for(all_applied, 60, "every event applied")
    finally:
        await consumer.close()

    assert raised == 1
    assert total.duplicates == 0
    assert sorted(await effect_ids(pg_sessions)) == sorted(str(r.event_id) for r in rows)
    assert await inbox_count(pg_sessions) == len(rows)
    again = consumer_for(kafka, pg_sessions, group=group)
    try:
        leftovers = [await again.poll(seconds=1.0) for _ in range(5)]
    finally:
        await again.close()
    assert sum(r.applied + r.duplicates for r in leftovers) == 0


async def test_a_message_that_is_not_one_of_our_events_is_skipped(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A message without CloudEvents headers (someone else's producer) is logged and
    skipped instead of blocking its partition; the events around it are applied."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers, partitions=1)
    rows = await publish(kafka, pg_url, pg_sessions)
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers})
    producer.produce(kafka.order_topic, key=b"stranger", value=b"not a cloud event")
    assert await asyncio.to_thread(producer.flush, 30) == 0
    await create_effects_table(pg_sessions)
    consumer = consumer_for(kafka, pg_sessions)
    total = PollResult()
    try:

        async def all_seen() -> bool:
            result = await consumer.poll(seconds=0.5)
            total.applied += result.applied
            total.skipped += result.skipped
            return total.applied + total.skipped == len(rows) + 1

        await wait_for(all_seen, 60, "every message handled")
    finally:
        await consumer.close()

    assert (total.applied, total.skipped) == (len(rows), 1)
    async with pg_sessions() as session:
        inbox = (await session.exec(select(col(InboxRow.event_id)))).all()
    assert sorted(map(str, inbox)) == sorted(str(r.event_id) for r in rows)


async def test_the_handler_runs_in_the_trace_the_message_carries(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The consumer continues the producer's trace: while the handler runs, the current
    span context is the one the message's ``traceparent`` names (its SQL and log lines
    join the order's trace)."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers, partitions=1)
    trace_id, span_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    rows = await append(pg_sessions, order_flow(str(uuid.uuid4())), f"00-{trace_id}-{span_id}-01")
    async with running(build_relay(pg_sessions, DatabaseSettings(url=pg_url), kafka, FAST_OUTBOX)):
        await wait_until_published(pg_sessions)
    await create_effects_table(pg_sessions)
    seen: dict[uuid.UUID, tuple[str, str]] = {}

    async def remember_trace(session: AsyncSession, event: ReceivedEvent) -> None:
        context = trace.get_current_span().get_span_context()
        seen[event.event_id] = (f"{context.trace_id:032x}", f"{context.span_id:016x}")
        await record_effect(session, event)

    consumer = consumer_for(kafka, pg_sessions, remember_trace)
    try:

        async def all_applied() -> bool:
            await consumer.poll(seconds=0.5)
            return len(seen) == len(rows)

        await wait_for(all_applied, 60, "every event applied")
    finally:
        await consumer.close()

    # Without an SDK in this process the relay's and the consumer's spans record nothing
    # and pass the stored context through unchanged, so it arrives as stored.
    assert set(seen.values()) == {(trace_id, span_id)}
