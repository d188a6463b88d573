"""A Kafka consumer that applies each event once: the inbox pattern.

For every message, one database transaction inserts ``(consumer, ce_id)`` into the inbox
and runs the handler's effect; when that row already exists the event was applied before
and the handler is skipped. Kafka offsets are committed only after those transactions
committed (``enable.auto.commit=false``). A crash anywhere therefore re-delivers, and the
inbox turns the re-delivery -- like the relay's at-least-once duplicates -- into a no-op.

A handler that raises rolls its transaction back; the partition is rewound to that message
and it is tried again on the next poll, after a backoff that doubles per attempt.

Without ``dead_letters`` (the default) a message that is not one of our events is logged
and skipped, and a failing handler is retried until it succeeds (or, with a bounded
``retry.max_attempts``, the consumer stops with :class:`HandlerExhaustedError`).
With ``dead_letters`` (see :mod:`outbox.dead_letters`): a message that cannot be parsed,
has an unknown type or fails ``validate`` is parked in ``<topic>.dlq`` at once, and a
handler still failing after ``retry.max_attempts`` is parked too (or, with
``retry.on_exhausted="stop"``, the consumer stops with :class:`HandlerExhaustedError`).
Parking happens before the offset is committed, so a message is always either applied,
parked, or read again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

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
Validator = Callable[[ReceivedEvent], None]  # raises InvalidEventMessageError
AfterPoll = Callable[["PollResult"], Awaitable[None]]


class DeadLetters(Protocol):
    async def park(self, message: Message, consumer: str, error: str, attempts: int) -> str: ...


class HandlerExhaustedError(RuntimeError):
    """A handler kept failing on one message and the policy says stop rather than park it."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int | None = None  # None: retry until it succeeds
    backoff_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    on_exhausted: Literal["dead_letter", "stop"] = "dead_letter"

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure of the same message."""
        return float(
            min(self.backoff_max_seconds, self.backoff_seconds * 2 ** max(attempts - 1, 0))
        )


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
    dead_lettered: int = 0  # parked in <topic>.dlq


class InboxConsumer:
    """Consume ``topics`` as ``name`` (the inbox's consumer column and default group id)."""

    def __init__(
        self,
        name: str,
        topics: Sequence[str],
        sessions: async_sessionmaker[AsyncSession],
        handler: Handler,
        config: Mapping[str, Any],
        *,
        dead_letters: DeadLetters | None = None,
        validate: Validator | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.name = name
        self._sessions = sessions
        self._handler = handler
        self._group_id = str(config.get("group.id", name))
        self._dead_letters = dead_letters
        self._validate = validate
        self._retry = retry or RetryPolicy()
        # Failures of the message at the head of a partition, while it keeps failing.
        self._failures: dict[tuple[str, int, int], int] = {}
        self._last_failures = 0
        self.last_result = PollResult()
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
        dead_letters: DeadLetters | None = None,
        validate: Validator | None = None,
        retry: RetryPolicy | None = None,
    ) -> InboxConsumer:
        config = consumer_config(bootstrap_servers, group_id or name, security)
        return cls(
            name,
            topics,
            sessions,
            handler,
            config,
            dead_letters=dead_letters,
            validate=validate,
            retry=retry,
        )

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
            # Also when a handler raised: what was handled before it is committed, and
            # counted (``last_result``), so metrics do not lose it.
            self.last_result = result
            await self._commit(handled)
        return result

    async def run(
        self,
        stop: asyncio.Event,
        backoff_seconds: float = 1.0,
        *,
        poll_seconds: float = 1.0,
        max_messages: int = 100,
        after_poll: AfterPoll | None = None,
    ) -> None:
        """Poll until ``stop`` is set; a failing handler is retried after the retry policy's
        backoff, a Kafka error after ``backoff_seconds``. ``after_poll`` sees each result."""
        while not stop.is_set():
            try:
                result = await self.poll(poll_seconds, max_messages)
                if after_poll is not None:
                    await after_poll(result)
            except HandlerExhaustedError:
                raise
            except KafkaException as exc:
                if exc.args and isinstance(exc.args[0], KafkaError) and exc.args[0].fatal():
                    raise  # this client cannot recover; let the process restart it
                log.exception("consumer %s: Kafka error; retrying", self.name)
                await wait_or_stop(stop, backoff_seconds)
            except Exception:  # the message is rewound and retried; keep the consumer alive
                if after_poll is not None:
                    await after_poll(self.last_result)
                delay = self._retry.delay(self._last_failures)
                log.exception("consumer %s: handling failed; retrying in %.1f s", self.name, delay)
                await wait_or_stop(stop, delay)

    async def lag(self, wait_seconds: float = 5.0) -> dict[tuple[str, int], int]:
        """Messages behind per assigned partition: high watermark minus committed offset."""
        return await asyncio.to_thread(self._lag, wait_seconds)

    def _lag(self, timeout: float) -> dict[tuple[str, int], int]:
        assigned = self._consumer.assignment()
        if not assigned:
            return {}
        committed = self._consumer.committed(assigned, timeout=timeout)
        lag = {}
        for partition in committed:
            # Cached: the high watermark of the last fetch response. Asking the broker costs
            # a round trip per partition that waits behind the fetch in flight (~0.5 s each).
            low, high = self._consumer.get_watermark_offsets(partition, cached=True)
            start = partition.offset if partition.offset >= 0 else max(low, 0)
            lag[(partition.topic, partition.partition)] = max(high - start, 0)
        return lag

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
            if self._validate is not None:
                self._validate(event)
        except InvalidEventMessageError as exc:
            if self._dead_letters is not None:
                return await self._park(self._dead_letters, message, f"poison message: {exc}", 1)
            log.warning("consumer %s: skipping %s: %s", self.name, _position(message), exc)
            return "skipped"
        position = _position(message)
        try:
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
                        outcome = "duplicates"
                    else:
                        await self._handler(session, event)
                        outcome = "applied"
        except Exception as exc:
            attempts = self._failures.get(position, 0) + 1
            self._failures[position] = self._last_failures = attempts
            limit = self._retry.max_attempts
            if limit is None or attempts < limit:
                raise
            self._failures.pop(position, None)
            error = f"handler failed {attempts} times: {type(exc).__name__}: {exc}"
            if self._retry.on_exhausted == "stop" or self._dead_letters is None:
                raise HandlerExhaustedError(f"consumer {self.name} at {position}: {error}") from exc
            return await self._park(self._dead_letters, message, error, attempts)
        self._failures.pop(position, None)
        return outcome

    async def _park(
        self, dead_letters: DeadLetters, message: Message, error: str, attempts: int
    ) -> str:
        topic = await dead_letters.park(message, self.name, error, attempts)
        log.warning("consumer %s: parked %s in %s: %s", self.name, _position(message), topic, error)
        return "dead_lettered"

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
