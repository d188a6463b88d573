"""The inbox consumer's Kafka offsets: its client config, commits within a deadline, lag.

librdkafka's synchronous commit has no timeout: while no group coordinator answers (a
broker down, the coordinator moving between brokers) it blocks until one does, and a
consumer blocked there neither consumes, nor stops when told, nor lets its liveness probe
see why. So offsets are committed asynchronously and their outcome, which librdkafka hands
to the ``on_commit`` callback from inside ``consume()``, is awaited by consuming until a
deadline; messages that arrive meanwhile are kept for the next poll, not lost. A commit
not answered by then raises :class:`CommitTimeoutError` -- a retriable Kafka error: the
consumer's run loop backs off and polls again, and the next commit carries the same or
later offsets.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

__all__ = [
    "COMMIT_TIMEOUT_SECONDS",
    "CommitTimeoutError",
    "OffsetCommits",
    "consumer_config",
    "lag",
]

COMMIT_TIMEOUT_SECONDS = 10.0
# How long one consume() inside the wait may block: the callback is served by the first.
_WAIT_STEP_SECONDS = 0.2


class CommitTimeoutError(KafkaException):
    """No group coordinator answered an offset commit within the deadline."""


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


class OffsetCommits:
    """Commits of one consumer; its :meth:`on_commit` must be the consumer's ``on_commit``.

    Not thread-safe, and need not be: the consumer is only ever called from one thread at
    a time, and the callback runs inside those calls.
    """

    def __init__(self, timeout_seconds: float = COMMIT_TIMEOUT_SECONDS) -> None:
        self.timeout_seconds = timeout_seconds
        self.carried: list[Message] = []  # consumed while waiting; the next poll's first
        # Commits sent and not answered yet, counting those a timeout gave up waiting for.
        self._unanswered = 0
        self._failures: list[str] = []

    def on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        self._unanswered = max(self._unanswered - 1, 0)
        failed = [f"{p.topic}[{p.partition}]: {p.error}" for p in partitions if p.error]
        if error is not None:
            self._failures.append(str(error))
        elif failed:
            self._failures.append("; ".join(failed))

    def commit(
        self, consumer: Consumer, offsets: Sequence[TopicPartition], max_messages: int
    ) -> list[str]:
        """Commit ``offsets`` and wait for every commit still unanswered (blocking: run it
        in a worker thread). Returns the failures reported (a rebalance took a partition,
        the coordinator moved); raises :class:`CommitTimeoutError` past the deadline."""
        consumer.commit(offsets=list(offsets), asynchronous=True)
        self._unanswered += 1
        deadline = time.monotonic() + self.timeout_seconds
        while self._unanswered:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CommitTimeoutError(
                    KafkaError(
                        KafkaError._TIMED_OUT,
                        f"no group coordinator answered the offset commit within "
                        f"{self.timeout_seconds:g}s",
                        retriable=True,
                    )
                )
            self.carried += consumer.consume(max_messages, min(remaining, _WAIT_STEP_SECONDS))
        failures, self._failures = self._failures, []
        return failures

    def take_carried(self) -> list[Message]:
        carried, self.carried = self.carried, []
        return carried


def lag(consumer: Consumer, timeout: float) -> dict[tuple[str, int], int]:
    """Messages behind per assigned partition: high watermark minus committed offset; a
    partition no fetch has answered for yet is left out."""
    assigned = consumer.assignment()
    if not assigned:
        return {}
    committed = consumer.committed(assigned, timeout=timeout)
    behind = {}
    for partition in committed:
        # Cached: the high watermark of the last fetch response. Asking the broker costs
        # a round trip per partition that waits behind the fetch in flight (~0.5 s each).
        low, high = consumer.get_watermark_offsets(partition, cached=True)
        if high < 0:
            # No fetch answered for it yet (just assigned): its lag is unknown, not 0.
            continue
        start = partition.offset if partition.offset >= 0 else max(low, 0)
        behind[(partition.topic, partition.partition)] = max(high - start, 0)
    return behind
