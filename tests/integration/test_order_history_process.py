"""``python -m consumers.order_history`` as a deployment runs it: killed mid-stream and
restarted, a poison message from an independent producer (kcat), metrics, SIGTERM."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from devstack.kafka import KafkaBroker
from devstack.process import free_port
from outbox.dead_letters import ERROR_HEADER, TOPIC_HEADER
from tests.fixtures.kafka import consume_all
from tests.fixtures.services import service_unavailable
from tests.integration.consumer_helpers import (
    CONSUMED_PER_ORDER,
    history,
    inbox_count,
    publish_pending,
    record_orders,
)
from tests.integration.outbox_helpers import ROOT, header_map, kafka_settings, relay_env, wait_for
from tests.integration.test_outbox_process import scrape

pytestmark = pytest.mark.integration
ORDERS = 60


async def applied(sessions: async_sessionmaker[AsyncSession]) -> int:
    return sum(row.events_applied for row in await history(sessions))


async def test_killed_mid_stream_and_restarted_the_consumer_applies_each_event_once(
    kafka_broker: KafkaBroker,
    pg_url: str,
    pg_sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    """SIGKILL while the consumer works through a backlog, a poison message sent with kcat,
    then a restart: every event ends applied exactly once, the poison message is in
    order-events.dlq, the lag metric falls to 0, and SIGTERM stops it with status 0."""
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        service_unavailable("kcat not on PATH (Debian: apt-get install -y kcat)")
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    await record_orders(pg_sessions, ORDERS)
    await publish_pending(pg_sessions, kafka, pg_url)
    total = ORDERS * CONSUMED_PER_ORDER
    port = free_port()
    env = relay_env(
        pg_url,
        kafka,
        ORDERS_CONSUMER__GROUP_ID=f"order-history-{uuid.uuid4().hex[:8]}",
        ORDERS_CONSUMER__MAX_MESSAGES_PER_POLL="2",
        ORDERS_CONSUMER__POLL_SECONDS="0.2",
        ORDERS_CONSUMER__METRICS_PORT=str(port),
        ORDERS_CONSUMER__LAG_INTERVAL_SECONDS="1",
        ORDERS_CONSUMER__SESSION_TIMEOUT_SECONDS="6",
    )
    log_path = tmp_path / "consumer.log"

    async def start() -> asyncio.subprocess.Process:
        with log_path.open("a") as log:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "consumers.order_history",
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )

    first = await start()
    try:
        await wait_for(lambda: _at_least(pg_sessions, 20), 90, "the first events applied")
        first.kill()
        await first.wait()
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    killed_at = await applied(pg_sessions)
    poison = subprocess.run(  # noqa: ASYNC221  (a short, bounded call)
        [
            kcat,
            "-P",
            "-b",
            kafka.bootstrap_servers,
            "-t",
            kafka.order_topic,
            "-k",
            "bad",
            "-H",
            "ce_id=not-a-uuid",
        ],
        input=b"not json at all",
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert poison.returncode == 0, poison.stderr

    second = await start()
    max_lag = 0.0
    try:

        async def caught_up() -> bool:
            nonlocal max_lag
            max_lag = max(max_lag, (await scrape(port)).get("consumer_lag_messages", 0.0))
            return await applied(pg_sessions) >= total

        await wait_for(caught_up, 120, "every event applied after the restart")
        parked = await asyncio.to_thread(
            consume_all, kafka.bootstrap_servers, f"{kafka.order_topic}.dlq", 1, 30
        )

        async def lag_zero() -> bool:
            samples = await scrape(port)
            return samples.get("consumer_lag_messages") == 0 and bool(
                samples.get("consumer_messages_total")
            )

        await wait_for(lag_zero, 30, "consumer_lag_messages back to 0")
        second.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(second.wait(), 30)
    finally:
        if second.returncode is None:
            second.kill()
            await second.wait()

    output = log_path.read_text()
    assert 0 < killed_at < total, output
    assert code == 0, output
    assert "order-history consumer stopped: offsets committed" in output
    assert max_lag > 0
    rows = await history(pg_sessions)
    assert len(rows) == ORDERS
    assert {row.events_applied for row in rows} == {CONSUMED_PER_ORDER}
    assert {row.status for row in rows} == {"CONFIRMED"}
    assert await inbox_count(pg_sessions, "order-history") == total
    [message] = parked
    headers = header_map(message)
    assert message.value() == b"not json at all"
    assert headers["ce_id"] == "not-a-uuid"
    assert headers[TOPIC_HEADER] == kafka.order_topic
    assert "poison message" in headers[ERROR_HEADER]


async def _at_least(sessions: async_sessionmaker[AsyncSession], count: int) -> bool:
    return await applied(sessions) >= count
