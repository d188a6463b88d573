"""Applying one consumed event once: the inbox row and the effect in one transaction.

Whoever applies an event inserts ``(consumer, event_id)`` in the same transaction as the
event's effect; a second delivery finds the row and skips the effect. A handler that
raises rolls both back; :class:`InboxApplier` counts its failures per message and, by the
retry policy, lets the error through (the consumer rewinds and retries), parks the message
in the dead-letter topic or stops the consumer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Literal

from confluent_kafka import Message
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from outbox.cloudevents import InvalidEventMessageError, ReceivedEvent, from_message
from outbox.consumer_policy import DeadLetters, HandlerExhaustedError, RetryPolicy
from persistence.tables import InboxRow, utc_now
from telemetry.tracing import consumer_span

__all__ = ["Handler", "InboxApplier", "Outcome", "Validator", "claim", "position"]

# The consumer's own logger: these lines are the consumer's, and are filtered as such.
log = logging.getLogger("outbox.consumer")

Handler = Callable[[AsyncSession, ReceivedEvent], Awaitable[None]]
Validator = Callable[[ReceivedEvent], None]  # raises InvalidEventMessageError
# The PollResult counter a message adds to.
Outcome = Literal["applied", "duplicates", "skipped", "dead_lettered"]


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


def position(message: Message) -> tuple[str, int, int]:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("a consumed message without topic, partition or offset")
    return topic, partition, offset


class InboxApplier:
    """Applies messages as consumer ``name`` of group ``group_id``."""

    def __init__(
        self,
        name: str,
        group_id: str,
        sessions: async_sessionmaker[AsyncSession],
        handler: Handler,
        *,
        dead_letters: DeadLetters | None,
        validate: Validator | None,
        retry: RetryPolicy,
    ) -> None:
        self.name = name
        self._group_id = group_id
        self._sessions = sessions
        self._handler = handler
        self._dead_letters = dead_letters
        self._validate = validate
        self._retry = retry
        # Failures of the message at the head of a partition, while it keeps failing.
        self._failures: dict[tuple[str, int, int], int] = {}
        self.last_failures = 0  # of the message that failed last: sets the retry's backoff

    async def apply(self, message: Message) -> Outcome:
        """Apply ``message`` once; raises the handler's error while it is to be retried."""
        try:
            event = from_message(message)
            if self._validate is not None:
                self._validate(event)
        except InvalidEventMessageError as exc:
            if self._dead_letters is not None:
                return await self._park(self._dead_letters, message, f"poison message: {exc}", 1)
            log.warning("consumer %s: skipping %s: %s", self.name, position(message), exc)
            return "skipped"
        at = position(message)
        outcome: Outcome
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
            attempts = self._failures.get(at, 0) + 1
            self._failures[at] = self.last_failures = attempts
            limit = self._retry.max_attempts
            if limit is None or attempts < limit:
                raise
            self._failures.pop(at, None)
            error = f"handler failed {attempts} times: {type(exc).__name__}: {exc}"
            if self._retry.on_exhausted == "stop" or self._dead_letters is None:
                raise HandlerExhaustedError(f"consumer {self.name} at {at}: {error}") from exc
            return await self._park(self._dead_letters, message, error, attempts)
        self._failures.pop(at, None)
        return outcome

    async def _park(
        self, dead_letters: DeadLetters, message: Message, error: str, attempts: int
    ) -> Outcome:
        topic = await dead_letters.park(message, self.name, error, attempts)
        log.warning("consumer %s: parked %s in %s: %s", self.name, position(message), topic, error)
        return "dead_lettered"
