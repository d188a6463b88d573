"""The outbox relay on a real Kafka broker and a real PostgreSQL: what reaches the topics.

Failure scenarios (broker outage, crash before marking, several relays) are in
``test_outbox_failures.py``; the dedup consumer in ``test_outbox_consumer.py``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import DatabaseSettings, KafkaSettings
from devstack.kafka import KafkaBroker
from devstack.process import free_port
from models.events import LowStockDetected
from outbox.cloudevents import message_body
from outbox.lag import OutboxLag, outbox_lag
from outbox.relay import build_relay
from outbox.topics import topics_by_aggregate
from persistence.database import create_engine, session_factory
from persistence.migrate import upgrade_async
from persistence.tables import EventRow
from tests.fixtures.services import service_unavailable
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
    java_partition,
    kafka_settings,
    order_flow,
    read_topics,
    relay_env,
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
}


async def publish_one_order(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> tuple[KafkaSettings, list[EventRow]]:
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    rows = await append(pg_sessions, order_flow(str(uuid.uuid4())), traceparent=TRACEPARENT)
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
        assert json.loads(record["payload"]) == message_body(row.event_data, 1)


async def test_tail_events_prints_each_event_readably(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """``python -m tools.tail_events --from-beginning`` prints one line per event with its
    time, type and version, key, ce_id and data."""
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
        assert f'"order_id": "{row.aggregate_id}"' in line


async def test_relay_is_off_without_kafka_settings(tmp_path: Path) -> None:
    """With the embedded defaults (no brokers configured) ``python -m outbox`` says so and
    exits 0 at once; the events it would have sent stay unpublished in the table."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    engine = create_engine(DatabaseSettings(url=url))
    sessions = session_factory(engine)
    try:
        await upgrade_async(engine)
        await append(sessions, order_flow("order-1"))

        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "outbox"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=ROOT,
            env=relay_env(url, KafkaSettings(bootstrap_servers="")),
        )

        assert done.returncode == 0, done.stderr
        assert "outbox relay off: Kafka is not configured" in done.stderr
        async with sessions() as session:
            assert (await outbox_lag(session)).unpublished == 5
    finally:
        await engine.dispose()


async def test_relay_publishes_from_the_sqlite_dev_database(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    """In the SQLite dev mode the relay publishes too (polling; no advisory locks there),
    and a second relay on the same file stands by on the file lock instead of publishing."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    engine = create_engine(DatabaseSettings(url=url))
    sessions = session_factory(engine)
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    try:
        await upgrade_async(engine)
        rows = await append_interleaved(sessions, ["order-1", "order-2"])
        relays = [
            build_relay(sessions, DatabaseSettings(url=url), kafka, FAST_OUTBOX) for _ in range(2)
        ]

        async with running(*relays):
            await wait_until_published(sessions)
            assert [relay.metrics.leader for relay in relays].count(True) == 1
        received = await read_topics(kafka, expected_per_topic(kafka, rows))
    finally:
        await engine.dispose()

    messages = [m for topic in received.values() for m in topic]
    assert sorted(header_map(m)["ce_id"] for m in messages) == sorted(
        str(row.event_id) for row in rows
    )
    assert_in_version_order_per_key(messages, {str(row.event_id): row for row in rows})


async def test_relay_process_serves_metrics_and_stops_cleanly_on_sigterm(
    kafka_broker: KafkaBroker,
    pg_url: str,
    pg_sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    """``python -m outbox`` publishes the table, exposes outbox_published_total and the lag
    gauges on its Prometheus endpoint, and on SIGTERM finishes and exits with status 0."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    rows = await append_interleaved(pg_sessions, [str(uuid.uuid4()) for _ in range(2)])
    port = free_port()
    log_path = tmp_path / "relay.log"
    env = relay_env(pg_url, kafka, ORDERS_TELEMETRY__METRICS_PORT=str(port))
    with log_path.open("w") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "outbox", cwd=ROOT, env=env, stdout=log, stderr=log
        )
    try:
        await wait_until_published(pg_sessions)

        async def metrics_caught_up() -> bool:
            samples = await scrape(port)
            return (
                samples.get("outbox_published_total") == len(rows)
                and samples.get("outbox_unpublished_events") == 0
                and samples.get("outbox_relay_leader") == 1
            )

        await wait_for(metrics_caught_up, 30, "metrics showing the published events")
        samples = await scrape(port)
        assert samples["outbox_oldest_unpublished_age_seconds"] == 0

        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = log_path.read_text()
    assert code == 0, output
    assert "outbox relay stopped" in output


async def scrape(port: int) -> dict[str, float]:
    """Sum of each metric's samples on the process's /metrics, by metric sample name."""
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    except httpx.TransportError:
        return {}
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals
