"""The relay as a deployment runs it: ``python -m outbox`` (off without Kafka; metrics;
SIGTERM) and the SQLite dev mode."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import DatabaseSettings, KafkaSettings
from devstack.kafka import KafkaBroker
from devstack.process import free_port
from outbox.lag import outbox_lag
from outbox.relay import build_relay
from persistence.database import create_engine, session_factory
from persistence.migrate import upgrade_async
from tests.integration.outbox_helpers import (
    FAST_OUTBOX,
    ROOT,
    append,
    append_interleaved,
    assert_in_version_order_per_key,
    expected_per_topic,
    header_map,
    kafka_settings,
    order_flow,
    read_topics,
    relay_env,
    running,
    wait_for,
    wait_until_published,
)

pytestmark = pytest.mark.integration


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
