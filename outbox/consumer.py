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
parked, or read again. Commits are bounded in time (see :mod:`outbox.offsets`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from outbox.consumer_policy import DeadLetters, HandlerExhaustedError, RetryPolicy
from outbox.inbox import Handler, InboxApplier, Validator, claim, position
from outbox.lease import wait_or_stop
from outbox.offsets import (
    COMMIT_TIMEOUT_SECONDS,
    CommitTimeoutError,
    OffsetCommits,
    consumer_config,
    lag,
)

# Importers of the consumer find its policy, inbox and config here too.
__all__ = [
    "AfterPoll",
    "CommitTimeoutError",
    "DeadLetters",
    "Handler",
    "HandlerExhaustedError",
    "InboxConsumer",
    "PollResult",
    "RetryPolicy",
    "Validator",
    "claim",
    "consumer_config",
]

log = logging.getLogger(__name__)

AfterPoll = Callable[["PollResult"], Awaitable[None]]


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
        commit_timeout_seconds: float = COMMIT_TIMEOUT_SECONDS,
    ) -> None:
        self.name = name
        self._retry = retry or RetryPolicy()
        self._applier = InboxApplier(
            name,
            str(config.get("group.id", name)),
            sessions,
            handler,
            dead_letters=dead_letters,
            validate=validate,
            retry=self._retry,
        )
        self.last_result = PollResult()
        self._commits = OffsetCommits(commit_timeout_seconds)
        self._consumer = Consumer(
            {
                **config,
                "enable.auto.commit": False,
                "on_commit": self._commits.on_commit,
                "logger": logging.getLogger(__name__),
            }
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
        commit_timeout_seconds: float = COMMIT_TIMEOUT_SECONDS,
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
            commit_timeout_seconds=commit_timeout_seconds,
        )

    async def poll(self, seconds: float = 1.0, max_messages: int = 100) -> PollResult:
        """Handle what arrives within ``seconds``, then commit the offsets handled.

        Raises :class:`CommitTimeoutError` when the commit is not answered in time; what
        was handled stays handled (``last_result``) and is committed by a later poll."""
        messages = self._commits.take_carried() or await asyncio.to_thread(
            self._consumer.consume, max_messages, seconds
        )
        result = PollResult()
        pending = deque(messages)
        handled: dict[tuple[str, int], int] = {}
        try:
            while pending:
                message = pending[0]
                error = message.error()
                if error is None:
                    outcome = await self._applier.apply(message)
                    setattr(result, outcome, getattr(result, outcome) + 1)
                    topic, partition, offset = position(message)
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
            # Raised below, not here: a handler's error in flight must not be replaced.
            stalled = await self._commit(handled, max_messages)
        if stalled is not None:
            raise stalled
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
                delay = self._retry.delay(self._applier.last_failures)
                log.exception("consumer %s: handling failed; retrying in %.1f s", self.name, delay)
                await wait_or_stop(stop, delay)

    async def lag(self, wait_seconds: float = 5.0) -> dict[tuple[str, int], int]:
        """Messages behind per assigned partition: high watermark minus committed offset."""
        return await asyncio.to_thread(lag, self._consumer, wait_seconds)

    async def close(self) -> None:
        await asyncio.to_thread(self._consumer.close)

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        # Transient (broker restarting, topic not created yet): librdkafka recovers itself.
        log.warning("consumer %s: %s", self.name, error)

    def _rewind(self, unhandled: Iterable[Message]) -> None:
        """Seek every partition back to its first unhandled message, so none is skipped."""
        first: dict[tuple[str, int], int] = {}
        for message in unhandled:
            if message.error() is None:
                topic, partition, offset = position(message)
                first.setdefault((topic, partition), offset)
        for (topic, partition), offset in first.items():
            self._consumer.seek(TopicPartition(topic, partition, offset))

    async def _commit(
        self, handled: Mapping[tuple[str, int], int], max_messages: int
    ) -> CommitTimeoutError | None:
        if not handled:
            return None
        offsets = [TopicPartition(topic, part, offset) for (topic, part), offset in handled.items()]
        try:
            failures = await asyncio.to_thread(
                self._commits.commit, self._consumer, offsets, max_messages
            )
        except CommitTimeoutError as exc:
            return exc
        except KafkaException as exc:
            failures = [str(exc)]
        for failure in failures:
            # E.g. a rebalance took the partition: its next owner re-reads from the last
            # committed offset and the inbox skips what we already applied.
            log.warning("consumer %s: committing offsets failed: %s", self.name, failure)
        return None
