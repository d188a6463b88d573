"""A Kafka consumer that applies each event once: the inbox pattern.

For every message, one database transaction inserts ``(consumer, ce_id)`` into the inbox
and runs the handler's effect; when that row already exists the event was applied before
and the handler is skipped. Kafka offsets are committed only after those transactions
committed (``enable.auto.commit=false``). A crash anywhere therefore re-delivers, and the
inbox turns the re-delivery -- like the relay's at-least-once duplicates -- into a no-op.

A handler that raises rolls its transaction back; the partition is rewound to that message
and it is tried again on the next poll (so one poison message holds up its partition,
which keeps the order per key; park it in a dead-letter table from the handler if needed).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from outbox.cloudevents import InvalidEventMessageError, ReceivedEvent, from_message
from outbox.lease import wait_or_stop
from persistence.tables import InboxRow, utc_now
from telemetry.tracing import consumer_span

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, ReceivedEvent], Awaitable[None]]


def consumer_config(
    bootstrap_servers: str, group_id: str, security: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``security``: TLS/SASL properties (``KafkaSettings.client_config()``)."""
    return {
        **(security or {}),
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    }


async def claim(session: AsyncSession, consumer: str, event_id: uuid.UUID | str) -> bool:
    """Record ``event_id`` as handled by ``consumer``; False when it already was.

    ``ON CONFLICT DO NOTHING``: a second consumer instance handling the same event at the
    same time waits for the first one's transaction and then inserts nothing.
    """
    row = {"consumer": consumer, "event_id": str(event_id), "processed_at": utc_now()}
    dialect = session.get_bind().dialect.name
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(InboxRow).values(row).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(InboxRow).values(row).on_conflict_do_nothing()
    else:
        raise NotImplementedError(f"the inbox supports PostgreSQL and SQLite, not {dialect}")
    # RETURNING rather than rowcount: an ORM-entity insert does not report a rowcount.
    result = await session.exec(statement.returning(col(InboxRow.event_id)))
    return result.first() is not None


@dataclass
class PollResult:
    applied: int = 0
    duplicates: int = 0
    skipped: int = 0  # messages that are not our CloudEvents


class InboxConsumer:
    """Consume ``topics`` as ``name`` (the inbox's consumer column and default group id)."""

    def __init__(
        self,
        name: str,
        topics: Sequence[str],
        sessions: async_sessionmaker[AsyncSession],
        handler: Handler,
        config: Mapping[str, Any],
    ) -> None:
        self.name = name
        self._sessions = sessions
        self._handler = handler
        self._group_id = str(config.get("group.id", name))
        self._consumer = Consumer(
            {**config, "enable.auto.commit": False, "logger": logging.getLogger(__name__)}
        )
        self._consumer.subscribe(list(topics))

    @classmethod
    def connect(
        cls,
        name: str,
        *,
        bootstrap_servers: str,
        topics: Sequence[str],
        sessions: async_sessionmaker[AsyncSession],
        handler: Handler,
        group_id: str | None = None,
        security: Mapping[str, Any] | None = None,
    ) -> InboxConsumer:
        config = consumer_config(bootstrap_servers, group_id or name, security)
        return cls(name, topics, sessions, handler, config)

    async def poll(self, seconds: float = 1.0, max_messages: int = 100) -> PollResult:
        """Handle what arrives within ``seconds``, then commit the offsets handled."""
        messages = await asyncio.to_thread(self._consumer.consume, max_messages, seconds)
        result = PollResult()
        pending = deque(messages)
        handled: dict[tuple[str, int], int] = {}
        try:
            while pending:
                message = pending[0]
                error = message.error()
                if error is None:
                    outcome = await self._handle(message)
                    setattr(result, outcome, getattr(result, outcome) + 1)
                    topic, partition, offset = _position(message)
                    handled[(topic, partition)] = offset + 1
                else:
                    self._on_error(error)
                pending.popleft()
        except BaseException:
            self._rewind(pending)
            raise
        finally:
            await self._commit(handled)
        return result

    async def run(self, stop: asyncio.Event, backoff_seconds: float = 1.0) -> None:
        """Poll until ``stop`` is set; a failing handler is retried after ``backoff_seconds``."""
        while not stop.is_set():
            try:
                await self.poll()
            except KafkaException as exc:
                if exc.args and isinstance(exc.args[0], KafkaError) and exc.args[0].fatal():
                    raise  # this client cannot recover; let the process restart it
                log.exception("consumer %s: Kafka error; retrying", self.name)
                await wait_or_stop(stop, backoff_seconds)
            except Exception:  # the message is rewound and retried; keep the consumer alive
                log.exception("consumer %s: handling failed; retrying", self.name)
                await wait_or_stop(stop, backoff_seconds)

    async def close(self) -> None:
        await asyncio.to_thread(self._consumer.close)

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        # Transient (broker restarting, topic not created yet): librdkafka recovers itself.
        log.warning("consumer %s: %s", self.name, error)

    async def _handle(self, message: Message) -> str:
        try:
            event = from_message(message)
        except InvalidEventMessageError as exc:
            log.warning("consumer %s: skipping %s: %s", self.name, _position(message), exc)
            return "skipped"
        # The handler runs in the producer's trace: its SQL and logs join the order's trace.
        with consumer_span(
            event.topic,
            consumer_group=self._group_id,
            event_id=str(event.event_id),
            partition=event.partition,
            offset=event.offset,
            parent=event.traceparent,
        ) as span:
            async with self._sessions() as session, session.begin():
                if not await claim(session, self.name, event.event_id):
                    span.set_attribute("order_saga.inbox.duplicate", True)
                    return "duplicates"
                await self._handler(session, event)
        return "applied"

    def _rewind(self, unhandled: Iterable[Message]) -> None:
        """Seek every partition back to its first unhandled message, so none is skipped."""
        first: dict[tuple[str, int], int] = {}
        for message in unhandled:
            if message.error() is None:
                topic, partition, offset = _position(message)
                first.setdefault((topic, partition), offset)
        for (topic, partition), offset in first.items():
            self._consumer.seek(TopicPartition(topic, partition, offset))

    async def _commit(self, handled: Mapping[tuple[str, int], int]) -> None:
        if not handled:
            return
        offsets = [TopicPartition(topic, part, offset) for (topic, part), offset in handled.items()]
        try:
            await asyncio.to_thread(self._consumer.commit, offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # E.g. a rebalance took the partition: its next owner re-reads from the last
            # committed offset and the inbox skips what we already applied.
            log.warning("consumer %s: committing offsets failed: %s", self.name, exc)


def _position(message: Message) -> tuple[str, int, int]:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("a consumed message without topic, partition or offset")
    return topic, partition, offset
