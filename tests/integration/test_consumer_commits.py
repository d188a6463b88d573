"""The inbox consumer's offset commits are bounded in time (``outbox.offsets``), on a real
broker and PostgreSQL: a commit no coordinator answers fails within its deadline instead of
blocking the consumer, and nothing is lost or applied twice because of it."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import DatabaseSettings
from devstack.kafka import KafkaBroker
from outbox.cloudevents import ReceivedEvent
from outbox.consumer import CommitTimeoutError, InboxConsumer
from outbox.relay import build_relay
from outbox.topics import topics_by_aggregate
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

COMMIT_TIMEOUT = 2.0


async def test_a_commit_while_the_broker_is_down_fails_within_its_deadline_and_nothing_is_lost(
    kafka_broker: KafkaBroker, pg_url: str, pg_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The broker stops while the consumer handles a batch: the poll's commit, which no
    coordinator can answer, raises a retriable ``CommitTimeoutError`` within the deadline
    (a synchronous commit would block until the broker returned). Once it is back, polling
    again applies every event exactly once."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    rows = await append(pg_sessions, order_flow(str(uuid.uuid4())))
    async with running(build_relay(pg_sessions, DatabaseSettings(url=pg_url), kafka, FAST_OUTBOX)):
        await wait_until_published(pg_sessions)
    await create_effects_table(pg_sessions)
    stopped_at: list[float] = []

    async def stop_the_broker_first(session: AsyncSession, event: ReceivedEvent) -> None:
        if not stopped_at:
            await asyncio.to_thread(kafka_broker.stop)
            stopped_at.append(time.monotonic())
        await record_effect(session, event)

    consumer = InboxConsumer.connect(
        "order-history",
        bootstrap_servers=kafka.bootstrap_servers,
        topics=list(topics_by_aggregate(kafka).values()),
        sessions=pg_sessions,
        handler=stop_the_broker_first,
        group_id=f"order-history-{uuid.uuid4()}",
        commit_timeout_seconds=COMMIT_TIMEOUT,
    )
    applied = 0
    stalled: list[CommitTimeoutError] = []

    async def poll() -> bool:
        """One more poll; whether a commit has stalled yet."""
        nonlocal applied
        try:
            await consumer.poll(seconds=0.5)
        except CommitTimeoutError as exc:
            stalled.append(exc)
        applied += consumer.last_result.applied  # also counted when the commit stalled
        return bool(stalled)

    try:
        try:
            await wait_for(poll, 60, "a commit the stopped broker cannot answer")
            failed_after = time.monotonic() - stopped_at[0]
        finally:
            await asyncio.to_thread(kafka_broker.start)

        async def all_applied() -> bool:
            await poll()  # a commit may stall again while the coordinator moves in
            return applied >= len(rows)

        await wait_for(all_applied, 90, "every event applied after the broker returned")
    finally:
        await consumer.close()

    # The deadline, plus one wait step and the rest of the batch's handling.
    assert failed_after < COMMIT_TIMEOUT + 2.0
    error = stalled[0].args[0]
    assert error.retriable()
    assert not error.fatal()
    assert "offset commit" in error.str()
    assert applied == len(rows)
    assert sorted(await effect_ids(pg_sessions)) == sorted(str(r.event_id) for r in rows)
