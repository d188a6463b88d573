"""The reference consumer (``consumers.order_history``) on a real broker and PostgreSQL:
offsets, duplicates, poison messages and a handler that keeps failing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from confluent_kafka import Message, Producer
from confluent_kafka.admin import AdminClient
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from consumers.order_history.service import build, handle
from devstack.kafka import KafkaBroker
from outbox.cloudevents import OutgoingMessage, ReceivedEvent, to_message
from outbox.dead_letters import (
    ATTEMPTS_HEADER,
    ERROR_HEADER,
    OFFSET_HEADER,
    PARTITION_HEADER,
    TOPIC_HEADER,
)
from outbox.topics import ensure_topics
from persistence.tables import EventRow
from tests.fixtures.kafka import consume_all
from tests.integration.consumer_helpers import (
    CONSUMED_PER_ORDER,
    consume_until,
    consumer_settings,
    history,
    inbox_count,
    publish_pending,
    record_orders,
    stored_events,
)
from tests.integration.outbox_helpers import header_map, kafka_settings

pytestmark = pytest.mark.integration


def produce(bootstrap: str, messages: list[OutgoingMessage]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    errors: list[object] = []
    for message in messages:
        headers: list[tuple[str, str | bytes | None]] = [*message.headers]
        producer.produce(
            message.topic,
            key=message.key,
            value=message.value,
            headers=headers,
            on_delivery=lambda error, _message: errors.append(error) if error else None,
        )
    assert producer.flush(30) == 0
    assert errors == []


def stray_row(event_type: str, data: dict[str, object], order_id: str) -> EventRow:
    """An events row as some other (broken) producer might have written it."""
    return EventRow(
        event_id=uuid.uuid4(),
        event_type=event_type,
        aggregate_type="order",
        aggregate_id=order_id,
        event_data=data,
        occurred_at=datetime.now(UTC),
        version=1,
    )


async def test_a_restarted_consumer_resumes_from_its_committed_offsets(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Stopped after the first orders and started again in the same group, the consumer
    reads only what came after: nothing is handled twice, nothing is missed."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    settings = consumer_settings(kafka, pg_url)
    await record_orders(pg_sessions, 3)
    await publish_pending(pg_sessions, kafka, pg_url)
    first = build(settings, pg_sessions)
    try:
        before = await consume_until(first, 3 * CONSUMED_PER_ORDER)
    finally:
        await first.close()

    later = await record_orders(pg_sessions, 2)
    await publish_pending(pg_sessions, kafka, pg_url)
    second = build(settings, pg_sessions)
    try:
        after = await consume_until(second, 2 * CONSUMED_PER_ORDER, quiet_polls=4)
    finally:
        await second.close()

    assert (before.applied, before.duplicates) == (3 * CONSUMED_PER_ORDER, 0)
    assert (after.applied, after.duplicates) == (2 * CONSUMED_PER_ORDER, 0)
    rows = {row.order_id: row for row in await history(pg_sessions)}
    assert len(rows) == 5
    assert all(rows[order_id].status == "CONFIRMED" for order_id in later)
    assert {row.events_applied for row in rows.values()} == {CONSUMED_PER_ORDER}


async def test_a_duplicate_delivery_is_applied_once(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Every event delivered twice (same ce_id, as after a relay crash) changes the read
    model once: the copies are counted as duplicates and the rows are as after one pass."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers, partitions=1)
    settings = consumer_settings(kafka, pg_url)
    await record_orders(pg_sessions, 2)
    await publish_pending(pg_sessions, kafka, pg_url)
    consumed = [
        row for row in await stored_events(pg_sessions) if row.aggregate_type != "notification"
    ]
    topics = {"order": kafka.order_topic, "inventory": kafka.inventory_topic}
    topics["payment"] = kafka.payment_topic
    copies = [to_message(row, topics[row.aggregate_type], kafka.event_source) for row in consumed]
    await asyncio.to_thread(produce, kafka.bootstrap_servers, copies)

    built = build(settings, pg_sessions)
    try:
        totals = await consume_until(built, 2 * len(consumed), quiet_polls=2)
    finally:
        await built.close()

    assert (totals.applied, totals.duplicates) == (len(consumed), len(consumed))
    rows = await history(pg_sessions)
    assert [row.events_applied for row in rows] == [CONSUMED_PER_ORDER] * 2
    assert {row.status for row in rows} == {"CONFIRMED"}
    assert await inbox_count(pg_sessions, settings.consumer.name) == len(consumed)


async def test_poison_messages_go_to_the_dead_letter_topic_and_the_next_event_is_applied(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """An unparseable body, an unknown event type, a body that breaks its schema and a
    message that is no CloudEvent at all are each parked in <topic>.dlq with the error,
    their original headers, topic, partition and offset; the valid order behind them on
    the same partition is applied."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers, partitions=1)
    settings = consumer_settings(kafka, pg_url)
    topic, source = kafka.order_topic, kafka.event_source
    unparseable = to_message(stray_row("OrderConfirmed", {"order_id": "o-1"}, "o-1"), topic, source)
    unparseable = OutgoingMessage(
        unparseable.event_id, topic, unparseable.key, b"{broken json", unparseable.headers
    )
    unknown = to_message(stray_row("OrderShipped", {"order_id": "o-2"}, "o-2"), topic, source)
    invalid = to_message(
        stray_row("OrderCreated", {"order_id": "o-3", "total_amount": 12}, "o-3"), topic, source
    )
    stranger = OutgoingMessage(uuid.uuid4(), topic, b"o-4", b"hello", [])
    poison = [unparseable, unknown, invalid, stranger]
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
    await asyncio.to_thread(ensure_topics, admin, kafka)
    await asyncio.to_thread(produce, kafka.bootstrap_servers, poison)
    [order_id] = await record_orders(pg_sessions, 1)
    await publish_pending(pg_sessions, kafka, pg_url)

    built = build(settings, pg_sessions)
    try:
        totals = await consume_until(built, len(poison) + CONSUMED_PER_ORDER, quiet_polls=2)
    finally:
        await built.close()
    parked = await asyncio.to_thread(
        consume_all, kafka.bootstrap_servers, f"{topic}.dlq", len(poison), 30
    )

    assert (totals.dead_lettered, totals.applied) == (len(poison), CONSUMED_PER_ORDER)
    [row] = await history(pg_sessions)
    assert (row.order_id, row.status) == (order_id, "CONFIRMED")
    assert [message.value() for message in parked] == [m.value for m in poison]
    headers = [header_map(message) for message in parked]
    assert [h.get("ce_id") for h in headers[:3]] == [str(m.event_id) for m in poison[:3]]
    assert all(h[TOPIC_HEADER] == topic and h[PARTITION_HEADER] == "0" for h in headers)
    assert [int(h[OFFSET_HEADER]) for h in headers] == [0, 1, 2, 3]
    assert headers[1]["ce_type"] == "com.example.orders.OrderShipped.v1"
    assert "the body is not a JSON object" in headers[0][ERROR_HEADER]
    assert "unknown event type" in headers[1][ERROR_HEADER]
    assert "does not match its schema" in headers[2][ERROR_HEADER]
    assert "no ce_id header" in headers[3][ERROR_HEADER]


async def test_a_handler_that_keeps_failing_is_parked_after_its_retries(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A transient failure is retried with backoff; one that outlasts max_attempts is
    parked with its attempts and error, and the partition moves on instead of stalling."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers, partitions=1)
    settings = consumer_settings(kafka, pg_url, max_attempts=3)
    [order_id] = await record_orders(pg_sessions, 1)
    await publish_pending(pg_sessions, kafka, pg_url)
    calls: dict[str, int] = {}

    async def fails_on_payment(session: AsyncSession, event: ReceivedEvent) -> None:
        calls[event.event_type] = calls.get(event.event_type, 0) + 1
        if event.event_type == "PaymentProcessed":
            raise ConnectionError("the downstream store is down")
        await handle(session, event)

    built = build(settings, pg_sessions, fails_on_payment)
    stop = asyncio.Event()
    try:
        runner = asyncio.create_task(built.consumer.run(stop, poll_seconds=0.2))

        async def parked() -> list[Message]:
            return await asyncio.to_thread(
                consume_all, kafka.bootstrap_servers, f"{kafka.payment_topic}.dlq", 1, 30
            )

        [message] = await parked()
        await asyncio.sleep(1.5)  # time for the order topic's events to be applied
        stop.set()
        await asyncio.wait_for(runner, 30)
    finally:
        await built.close()

    headers = header_map(message)
    assert calls["PaymentProcessed"] == 3
    assert headers[ATTEMPTS_HEADER] == "3"
    assert "ConnectionError: the downstream store is down" in headers[ERROR_HEADER]
    [row] = await history(pg_sessions)
    assert (row.order_id, row.status, row.events_applied) == (order_id, "CONFIRMED", 3)
