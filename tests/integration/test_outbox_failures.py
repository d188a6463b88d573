"""The outbox relay when things go wrong: the broker away, a relay crashing before it marks
what it sent, several relays at once, a leader killed. Real Kafka, real PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import DatabaseSettings, OutboxSettings
from devstack.kafka import KafkaBroker
from outbox.consumer import InboxConsumer
from outbox.lag import outbox_lag
from outbox.metrics import RelayMetrics
from outbox.relay import OutboxRelay, build_relay
from outbox.topics import topics_by_aggregate
from tests.integration.outbox_helpers import (
    FAST_OUTBOX,
    ROOT,
    all_rows,
    append,
    append_interleaved,
    assert_in_version_order_per_key,
    create_effects_table,
    effect_ids,
    expected_per_topic,
    header_map,
    kafka_settings,
    order_flow,
    poll_until,
    read_topics,
    record_effect,
    relay_env,
    running,
    wait_for,
    wait_until_published,
)

pytestmark = pytest.mark.integration


def gauge(reader: InMemoryMetricReader, name: str) -> float:
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    points = metric.data.data_points
                    return sum(float(p.value) for p in points if isinstance(p, NumberDataPoint))
    raise AssertionError(f"no metric {name}")


async def test_events_wait_while_the_broker_is_down_and_all_arrive_in_order_after(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """With the broker stopped, appended events pile up in the outbox (outbox_lag and the
    gauges show the backlog) while the relay keeps running; once the broker is back every
    event arrives exactly once, in version order per order."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    reader = InMemoryMetricReader()
    metrics = RelayMetrics(MeterProvider(metric_readers=[reader]).get_meter("test"))
    relay = build_relay(
        pg_sessions, DatabaseSettings(url=pg_url), kafka, FAST_OUTBOX, metrics=metrics
    )
    orders = [str(uuid.uuid4()) for _ in range(5)]
    rows = await append(pg_sessions, order_flow(orders[0])[:2])

    async with running(relay):
        await wait_until_published(pg_sessions)
        await asyncio.to_thread(kafka_broker.stop)
        try:
            rows += await append_interleaved(pg_sessions, orders)
            await asyncio.sleep(3)  # the relay has read, sent and is waiting for the broker
            async with pg_sessions() as session:
                lag = await outbox_lag(session)
            assert lag.unpublished == 25
            assert lag.oldest_age_seconds >= 3
            await relay.sample_lag()
            assert gauge(reader, "outbox_unpublished_events") == 25
            assert gauge(reader, "outbox_oldest_unpublished_age_seconds") >= 3
        finally:
            await asyncio.to_thread(kafka_broker.start)
        await wait_until_published(pg_sessions, within=90)

    received = await read_topics(kafka, expected_per_topic(kafka, rows))
    messages = [m for topic in received.values() for m in topic]
    assert Counter(header_map(m)["ce_id"] for m in messages) == Counter(
        str(row.event_id) for row in rows
    )
    assert_in_version_order_per_key(messages, {str(row.event_id): row for row in rows})
    assert gauge(reader, "outbox_published_total") == len(rows)


async def test_a_batch_sent_but_never_marked_is_sent_again_and_applied_once(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A relay that dies after the broker acknowledged a batch but before marking it (here:
    its publish steps run, the mark step never does) leaves the events unpublished; the next
    relay publishes them again, so each is on its topic twice with the same ce_id, and the
    dedup consumer applies each event exactly once."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    database = DatabaseSettings(url=pg_url)
    rows = await append_interleaved(pg_sessions, [str(uuid.uuid4()) for _ in range(2)])
    crashing = build_relay(pg_sessions, database, kafka, FAST_OUTBOX)
    await crashing.create_topics()
    batch = await crashing.fetch_batch()
    delivery = crashing.send(batch)
    await crashing.await_acks(delivery)
    assert len(delivery.acked) == len(rows)  # on the broker, yet ...
    async with pg_sessions() as session:
        assert (await outbox_lag(session)).unpublished == len(rows)  # ... not marked

    async with running(build_relay(pg_sessions, database, kafka, FAST_OUTBOX)):
        await wait_until_published(pg_sessions)
    await create_effects_table(pg_sessions)
    consumer = InboxConsumer.connect(
        "order-history",
        bootstrap_servers=kafka.bootstrap_servers,
        topics=list(topics_by_aggregate(kafka).values()),
        sessions=pg_sessions,
        handler=record_effect,
        group_id=f"order-history-{uuid.uuid4()}",
    )
    try:
        total = await poll_until(consumer, 2 * len(rows))
    finally:
        await consumer.close()

    assert (total.applied, total.duplicates) == (len(rows), len(rows))
    effects = await effect_ids(pg_sessions)
    assert sorted(effects) == sorted(str(row.event_id) for row in rows)


async def test_two_relays_publish_500_events_once_each_in_order_across_a_handover(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Two relays run at once over 500 events appended while they run: only one publishes
    at a time; when it is stopped half-way the other takes over; every event is on its
    topic exactly once (counted by ce_id), and each order's events are in version order."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    database = DatabaseSettings(url=pg_url)
    outbox = OutboxSettings(batch_size=25, poll_interval_seconds=0.05)
    relays = [
        build_relay(pg_sessions, database, kafka, outbox, lease_retry_seconds=0.2) for _ in range(2)
    ]
    orders = [str(uuid.uuid4()) for _ in range(100)]
    rows = []

    seen: list[int] = []
    watcher = asyncio.create_task(watch_leaders(relays, seen))

    async def one_leads() -> bool:
        return leaders(relays) == 1

    async with running(*relays) as stops:
        rows += await append_interleaved(pg_sessions, orders[:50])
        await wait_for(one_leads, 10, "one relay leading")
        leader = next(i for i, relay in enumerate(relays) if relay.metrics.leader)
        stops[leader].set()  # a graceful stop mid-stream: the other must take over
        rows += await append_interleaved(pg_sessions, orders[50:])
        await wait_until_published(pg_sessions)
        assert relays[1 - leader].metrics.leader
    watcher.cancel()

    assert max(seen) == 1, "two relays led at the same time"
    assert len(rows) == 500
    received = await read_topics(kafka, expected_per_topic(kafka, rows))
    messages = [m for topic in received.values() for m in topic]
    assert Counter(header_map(m)["ce_id"] for m in messages) == Counter(
        str(row.event_id) for row in rows
    )
    assert_in_version_order_per_key(messages, {str(row.event_id): row for row in rows})


def leaders(relays: Sequence[OutboxRelay]) -> int:
    return [relay.metrics.leader for relay in relays].count(True)


async def watch_leaders(relays: Sequence[OutboxRelay], seen: list[int]) -> None:
    """Record how many relays lead, every few milliseconds, until cancelled."""
    while True:
        seen.append(leaders(relays))
        await asyncio.sleep(0.005)


async def test_a_standby_takes_over_within_seconds_when_the_leader_is_killed(
    kafka_broker: KafkaBroker,
    pg_url: str,
    pg_sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    """A relay process holding the lease is SIGKILLed: PostgreSQL ends its session and so
    its advisory lock, the standby acquires it within seconds and publishes what is
    appended afterwards; nothing is lost and each order's events stay in order."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    rows = await append(pg_sessions, order_flow(str(uuid.uuid4())))
    with (tmp_path / "leader.log").open("w") as log:
        leader = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "outbox", cwd=ROOT, env=relay_env(pg_url, kafka), stderr=log
        )
    standby = build_relay(
        pg_sessions, DatabaseSettings(url=pg_url), kafka, FAST_OUTBOX, lease_retry_seconds=0.5
    )
    try:
        await wait_until_published(pg_sessions)  # the process published, so it leads
        async with running(standby):
            await asyncio.sleep(1)
            assert not standby.metrics.leader
            leader.send_signal(signal.SIGKILL)
            await leader.wait()
            rows += await append_interleaved(pg_sessions, [str(uuid.uuid4()) for _ in range(3)])
            takeover = await wait_until_published(pg_sessions, within=15)
            assert standby.metrics.leader
    finally:
        if leader.returncode is None:
            leader.kill()
            await leader.wait()

    assert takeover < 5, f"took {takeover:.1f} s"
    received = await read_topics(kafka, expected_per_topic(kafka, rows))
    messages = [m for topic in received.values() for m in topic]
    assert {header_map(m)["ce_id"] for m in messages} == {str(row.event_id) for row in rows}
    assert_in_version_order_per_key(messages, {str(row.event_id): row for row in rows})
    assert all(row.published_at is not None for row in await all_rows(pg_sessions))
