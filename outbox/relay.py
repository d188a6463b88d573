"""The outbox relay: the events table to Kafka, oldest first, marked only once acknowledged.

One loop while this relay holds the lease (see ``outbox.lease`` for why one publisher):

1. read up to ``batch_size`` unpublished rows in position order;
2. hand them to the producer in that order (key = aggregate id, topic by aggregate type);
3. flush until the broker acknowledged every message, however long it is away;
4. set ``published_at`` on the acknowledged rows in one transaction;
5. a full batch: go again at once; otherwise wait for a NOTIFY or the poll interval.

A crash between 3 and 4 publishes the batch again on restart (at-least-once); consumers
drop the duplicates by ``ce_id``. Nothing is ever marked that the broker did not confirm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Final

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import DatabaseSettings, KafkaSettings, OutboxSettings
from outbox.cloudevents import OutgoingMessage, to_message
from outbox.lag import OutboxLag, oldest_unpublished_at, unpublished_count
from outbox.lease import Lease, LeaseLostError, make_lease, wait_or_stop
from outbox.metrics import RelayMetrics
from outbox.publisher import Delivery, KafkaPublisher, producer_config
from outbox.store import fetch_unpublished, mark_published
from outbox.topics import ensure_topics, topic_for
from persistence.tables import EventRow, utc_now

log = logging.getLogger(__name__)

FLUSH_SLICE_SECONDS: Final = 0.5
LEASE_CHECK_SECONDS: Final = 2.0
WAITING_LOG_SECONDS: Final = 10.0
MAX_BACKOFF_SECONDS: Final = 30.0


class PublishError(Exception):
    """Part of a batch was refused; the acknowledged part is marked, the rest retried."""


def backoff(failures: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(failures, 10)))


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        kafka: KafkaSettings,
        outbox: OutboxSettings,
        *,
        lease: Lease,
        publisher: KafkaPublisher,
        admin: AdminClient,
        metrics: RelayMetrics | None = None,
        shutdown_grace_seconds: float = 10.0,
        lag_sample_seconds: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._kafka = kafka
        self._outbox = outbox
        self._lease = lease
        self._publisher = publisher
        self._admin = admin
        self.metrics = metrics or RelayMetrics()
        self._shutdown_grace = shutdown_grace_seconds
        self._lag_sample_seconds = lag_sample_seconds
        # time.monotonic() of the last successful lag sample (readiness: lag is known).
        self.lag_sampled_at: float | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; the batch in flight is finished first."""
        sampler = asyncio.create_task(self._sample_lag_until(stop))
        try:
            if await self._create_topics(stop):
                await self._lead_or_stand_by(stop)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            await self._lease.release()
            self._publisher.close(timeout=0)
            log.info("outbox relay stopped")

    async def relay_batch(self, stop: asyncio.Event | None = None) -> int:
        """Publish one batch and mark what was acknowledged; returns the rows read."""
        rows = await self.fetch_batch()
        if not rows:
            return 0
        delivery = self.send(rows)
        try:
            await self.await_acks(delivery, stop)
        finally:
            # Also when waiting was cut short (lease lost, shutdown): keep what the broker has.
            await self.mark_published(delivery.acked)
        log.debug("published %d of %d events", len(delivery.acked), len(rows))
        if delivery.failed or delivery.held_back:
            reasons = sorted({reason for _, reason in delivery.failed})
            raise PublishError(
                f"{len(delivery.failed)} events refused, {delivery.held_back} held back "
                f"behind them: {'; '.join(reasons)}"
            )
        return len(rows)

    async def create_topics(self) -> list[str]:
        """Create the missing topics; ``KafkaException`` when the cluster is unreachable."""
        return await asyncio.to_thread(ensure_topics, self._admin, self._kafka)

    async def fetch_batch(self) -> list[EventRow]:
        async with self._sessions() as session:
            return await fetch_unpublished(session, self._outbox.batch_size)

    def send(self, rows: Sequence[EventRow]) -> Delivery:
        messages = [
            to_message(row, topic_for(row.aggregate_type, self._kafka), self._kafka.event_source)
            for row in rows
        ]
        return self._publisher.send(messages)

    async def await_acks(self, delivery: Delivery, stop: asyncio.Event | None = None) -> None:
        """Flush until every message is answered; while waiting, keep checking the lease.

        On shutdown, wait at most the grace period: what is unacknowledged then stays
        unpublished in the table and is sent again by the next relay.
        """
        started = last_check = last_log = time.monotonic()
        give_up_at: float | None = None
        while delivery.pending and self._publisher.fatal_error is None:
            await self._publisher.flush(FLUSH_SLICE_SECONDS)
            now = time.monotonic()
            if not delivery.pending:
                break
            if stop is not None and stop.is_set():
                give_up_at = give_up_at or now + self._shutdown_grace
                if now >= give_up_at:
                    log.warning("stopping with %d events unacknowledged", delivery.pending)
                    return
            if now - last_check >= LEASE_CHECK_SECONDS:
                await self._lease.check()
                last_check = now
            if now - last_log >= WAITING_LOG_SECONDS:
                log.warning(
                    "waiting %.0f s for the broker: %d of %d events unacknowledged",
                    now - started,
                    delivery.pending,
                    delivery.sent,
                )
                last_log = now

    async def mark_published(self, messages: Sequence[OutgoingMessage]) -> int:
        if not messages:
            return 0
        async with self._sessions() as session, session.begin():
            marked = await mark_published(session, [m.event_id for m in messages], utc_now())
        for topic, count in Counter(m.topic for m in messages).items():
            self.metrics.published(topic, count)
        return marked

    async def sample_lag(self) -> OutboxLag:
        async with self._sessions() as session:
            count = await unpublished_count(session)
            oldest = await oldest_unpublished_at(session) if count else None
        self.metrics.sampled(count, oldest)
        self.lag_sampled_at = time.monotonic()
        return self.metrics.lag

    @property
    def lag_sample_seconds(self) -> float:
        return self._lag_sample_seconds

    async def broker_problem(self, wait_seconds: float = 3.0) -> str | None:
        """None when the cluster answers a metadata request with brokers, else why not."""
        try:
            metadata = await asyncio.to_thread(self._admin.list_topics, timeout=wait_seconds)
        except KafkaException as exc:
            return f"Kafka unreachable: {exc}"
        if not metadata.brokers:
            return "Kafka answered without brokers"
        return None

    async def _lead_or_stand_by(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not await self._lease.acquire(stop):
                return
            self.metrics.leader = True
            try:
                await self._lead(stop)
            except LeaseLostError as exc:
                log.warning("lost the outbox lease (%s); standing by", exc)
                # Nothing this producer still holds may reach the broker behind the new
                # leader's messages.
                self._publisher.reset()
            finally:
                self.metrics.leader = False
                await self._lease.release()

    async def _lead(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            await self._lease.check()
            try:
                read = await self.relay_batch(stop)
            except LeaseLostError:
                raise
            except Exception:  # database or broker trouble: log, back off, try again
                failures += 1
                log.exception("relaying a batch failed (attempt %d)", failures)
                if self._publisher.fatal_error is not None:
                    self._publisher.reset()
                await wait_or_stop(stop, backoff(failures))
                continue
            failures = 0
            if self._publisher.fatal_error is not None:
                self._publisher.reset()
            elif read < self._outbox.batch_size:
                await self._lease.wait_for_events(self._outbox.poll_interval_seconds, stop)

    async def _create_topics(self, stop: asyncio.Event) -> bool:
        failures = 0
        while not stop.is_set():
            try:
                await self.create_topics()
            except KafkaException as exc:
                failures += 1
                log.warning("cannot create the topics yet (%s); retrying", exc)
                await wait_or_stop(stop, backoff(failures))
            else:
                return True
        return False

    async def _sample_lag_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sample_lag()
            except Exception:  # the database may be away; the gauges keep the last sample
                log.warning("sampling the outbox lag failed", exc_info=True)
            await wait_or_stop(stop, self._lag_sample_seconds)


def build_relay(
    sessions: async_sessionmaker[AsyncSession],
    database: DatabaseSettings,
    kafka: KafkaSettings,
    outbox: OutboxSettings,
    *,
    metrics: RelayMetrics | None = None,
    lease_retry_seconds: float = 1.0,
) -> OutboxRelay:
    """A relay with its own lease, producer and admin client, built from the settings."""
    return OutboxRelay(
        sessions,
        kafka,
        outbox,
        lease=make_lease(database, retry_seconds=lease_retry_seconds),
        publisher=KafkaPublisher(producer_config(kafka, outbox.batch_size)),
        admin=AdminClient(kafka.client_config()),
        metrics=metrics,
    )
