"""The outbox relay on a real Kafka broker and a real PostgreSQL: what reaches the topics.

Failure scenarios (broker outage, crash before marking, several relays, a killed leader)
are in ``test_outbox_failures.py``; ``python -m outbox`` itself (off without Kafka, metrics,
SIGTERM) and the SQLite dev mode in ``test_outbox_process.py``; the dedup consumer in
``test_outbox_consumer.py``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import DatabaseSettings, KafkaSettings, OutboxSettings
from devstack.kafka import KafkaBroker
from models.actor import Actor
from models.events import LowStockDetected
from outbox.cloudevents import message_body
from outbox.lag import OutboxLag, outbox_lag
from outbox.lease import NOTIFY_CHANNEL
from outbox.relay import OutboxRelay, build_relay
from outbox.topics import topics_by_aggregate
from persistence.batch import Batch
from persistence.tables import EventRow
from tests.fixtures.services import service_unavailable
from tests.integration.kafka_partitioner import java_partition
from tests.integration.outbox_helpers import (
    FAST_OUTBOX,
    ROOT,
    TRACEPARENT,
    all_rows,
    append,
    append_interleaved,
    assert_in_version_order_per_key,
    expected_per_topic,
    header_map,
    kafka_settings,
    order_flow,
    read_topics,
    running,
    wait_for,
    wait_until_published,
)

pytestmark = pytest.mark.integration

CE_HEADERS = {
    "ce_specversion",
    "ce_id",
    "ce_type",
    "ce_source",
    "ce_time",
    "ce_subject",
    "content-type",
    "traceparent",
    "ce_actorkind",
    "ce_actor",
}
CUSTOMER = Actor(kind="user", subject="customer-1", role="customer")


async def publish_one_order(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> tuple[KafkaSettings, list[EventRow]]:
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    rows = await append(
        pg_sessions, order_flow(str(uuid.uuid4())), traceparent=TRACEPARENT, actor=CUSTOMER
    )
    relay = build_relay(pg_sessions, DatabaseSettings(url=pg_url), kafka, FAST_OUTBOX)
    async with running(relay):
        await wait_until_published(pg_sessions)
    return kafka, rows


async def test_events_reach_their_topics_once_in_version_order_with_cloudevents_headers(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Interleaved events of three orders plus a product's stock event are published to the
    topic of their aggregate type, each exactly once, keyed by aggregate id on the partition
    the Java clients would pick, in version order per key, with CloudEvents binary headers
    and the stored payload plus schema_version as body; then they are marked published."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    rows = await append_interleaved(pg_sessions, [str(uuid.uuid4()) for _ in range(3)])
    low_stock = LowStockDetected(product_id="sku-grinder", available=1, reorder_point=5)
    rows += await append(pg_sessions, [low_stock])
    relay = build_relay(pg_sessions, DatabaseSettings(url=pg_url), kafka, FAST_OUTBOX)

    async with running(relay):
        await wait_until_published(pg_sessions)
    received = await read_topics(kafka, expected_per_topic(kafka, rows))

    by_id = {str(row.event_id): row for row in rows}
    topics = topics_by_aggregate(kafka)
    for topic, messages in received.items():
        ids = [header_map(m)["ce_id"] for m in messages]
        assert Counter(ids) == Counter(
            {str(r.event_id): 1 for r in rows if topics[r.aggregate_type] == topic}
        )
        assert_in_version_order_per_key(messages, by_id)
    for message in (m for messages in received.values() for m in messages):
        headers = header_map(message)
        row = by_id[headers["ce_id"]]
        assert message.key() == row.aggregate_id.encode()
        assert message.partition() == java_partition(row.aggregate_id.encode(), kafka.partitions)
        assert set(headers) == CE_HEADERS - ({"traceparent"} if row.traceparent is None else set())
        assert headers["ce_specversion"] == "1.0"
        assert headers["ce_type"] == f"com.example.orders.{row.event_type}.v1"
        assert headers["ce_source"] == kafka.event_source
        assert headers["ce_subject"] == row.aggregate_id
        assert headers["ce_time"].endswith("Z")
        assert datetime.fromisoformat(headers["ce_time"]) == row.occurred_at
        assert headers["content-type"] == "application/json"
        assert headers.get("traceparent") == row.traceparent
        assert (headers["ce_actorkind"], headers["ce_actor"]) == ("system", "order-saga")
        assert json.loads(message.value() or b"") == message_body(row.event_data, 1)
    assert all(row.published_at is not None for row in await all_rows(pg_sessions))
    async with pg_sessions() as session:
        assert await outbox_lag(session) == OutboxLag(0, 0.0)


async def test_kcat_reads_the_same_wire_format(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """An independent client (Debian's kcat) reads key, partition, CloudEvents headers and
    JSON body of a published event: the format is Kafka's, not the Python client's."""
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        service_unavailable("kcat not on PATH (Debian: apt-get install -y kcat)")
    kafka, rows = await publish_one_order(kafka_broker, pg_url, pg_sessions)
    order_rows = [row for row in rows if row.aggregate_type == "order"]

    command = [kcat, "-C", "-b", kafka.bootstrap_servers, "-t", kafka.order_topic]
    command += ["-o", "beginning", "-c", str(len(order_rows)), "-e", "-q", "-J"]
    done = await asyncio.to_thread(
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(records) == len(order_rows)
    for record, row in zip(records, order_rows, strict=True):
        headers = dict(zip(record["headers"][::2], record["headers"][1::2], strict=True))
        assert record["key"] == row.aggregate_id
        assert record["partition"] == java_partition(row.aggregate_id.encode(), kafka.partitions)
        assert headers["ce_id"] == str(row.event_id)
        assert headers["ce_type"] == f"com.example.orders.{row.event_type}.v1"
        assert headers["ce_specversion"] == "1.0"
        assert headers["content-type"] == "application/json"
        assert headers["traceparent"] == TRACEPARENT
        actor = (headers["ce_actorkind"], headers["ce_actor"], headers["ce_actorrole"])
        assert actor == ("user", "customer-1", "customer")
        assert json.loads(record["payload"]) == message_body(row.event_data, 1)


async def test_tail_events_prints_each_event_readably(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """``python -m tools.tail_events --from-beginning`` prints one line per event with its
    time, type and version, key, ce_id, actor and data."""
    kafka, rows = await publish_one_order(kafka_broker, pg_url, pg_sessions)
    order_rows = [row for row in rows if row.aggregate_type == "order"]

    command = [sys.executable, "-m", "tools.tail_events", "--topic", kafka.order_topic]
    command += ["--from-beginning", "--bootstrap-servers", kafka.bootstrap_servers]
    command += ["--max-messages", str(len(order_rows))]
    done = await asyncio.to_thread(
        subprocess.run,
        command,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )

    lines = done.stdout.splitlines()
    assert len(lines) == len(order_rows)
    for line, row in zip(lines, order_rows, strict=True):
        assert f"{row.event_type}.v1" in line
        assert f"key={row.aggregate_id}" in line
        assert f"ce_id={row.event_id}" in line
        assert "by=user:customer-1/customer" in line
        assert f'"order_id": "{row.aggregate_id}"' in line


async def test_a_notify_in_the_appending_transaction_wakes_an_idle_relay_at_once(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The leader LISTENs on ``outbox_events``: with a poll interval of a minute, events
    appended in a transaction that also issues ``NOTIFY outbox_events`` are published within
    a second of the commit."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    slow_poll = OutboxSettings(batch_size=50, poll_interval_seconds=60)
    relay = build_relay(pg_sessions, DatabaseSettings(url=pg_url), kafka, slow_poll)

    async with running(relay):
        await wait_for(relay_leads(relay), 10, "the relay leading")
        await asyncio.sleep(1)  # it has found the table empty and waits
        async with pg_sessions() as session, session.begin():
            batch = Batch(session)
            batch.add_events(order_flow(str(uuid.uuid4())), datetime.now(UTC))
            await batch.send()
            await session.exec(select(func.pg_notify(NOTIFY_CHANNEL, "")))
        latency = await wait_until_published(pg_sessions, within=10)

    assert latency < 1.0, f"published {latency:.2f} s after commit"


def relay_leads(relay: OutboxRelay) -> Callable[[], Awaitable[bool]]:
    async def leads() -> bool:
        return relay.metrics.leader

    return leads
