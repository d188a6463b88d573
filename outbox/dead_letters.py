"""Dead-letter topics: where a consumer parks a message it cannot apply, and how it comes back.

A parked message keeps its key, value and every original header (``ce_*``, ``traceparent``)
and gains ``dlq_*`` headers saying where it came from and why it was parked. Re-driving
(``python -m tools.redrive_dlq``) strips the ``dlq_*`` headers and publishes the rest to the
original topic unchanged: same ``ce_id``, so a consumer that did apply it meanwhile skips it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from confluent_kafka import KafkaException, Message, Producer

DLQ_HEADER_PREFIX: Final = "dlq_"
ERROR_HEADER: Final = "dlq_error"
TOPIC_HEADER: Final = "dlq_original_topic"
PARTITION_HEADER: Final = "dlq_original_partition"
OFFSET_HEADER: Final = "dlq_original_offset"
CONSUMER_HEADER: Final = "dlq_consumer"
ATTEMPTS_HEADER: Final = "dlq_attempts"
PARKED_AT_HEADER: Final = "dlq_parked_at"
MAX_ERROR_BYTES: Final = 4096

Headers = list[tuple[str, bytes]]


class DeadLetterError(RuntimeError):
    """The broker did not take a parked message: the original is not committed either."""


def original_headers(message: Message) -> Headers:
    """The message's headers as (name, bytes) pairs, in their order, ``dlq_*`` ones dropped."""
    received = message.headers() or []
    pairs = received.items() if isinstance(received, dict) else received
    return [
        (name, value.encode() if isinstance(value, str) else (value or b""))
        for name, value in pairs
        if not name.startswith(DLQ_HEADER_PREFIX)
    ]


def header_values(message: Message) -> dict[str, str]:
    """Headers as text, the last value of a repeated name winning."""
    received = message.headers() or []
    pairs = received.items() if isinstance(received, dict) else received
    return {
        name: value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")
        for name, value in pairs
    }


def parking_headers(message: Message, consumer: str, error: str, attempts: int) -> Headers:
    return [
        *original_headers(message),
        (ERROR_HEADER, error.encode()[:MAX_ERROR_BYTES]),
        (TOPIC_HEADER, (message.topic() or "").encode()),
        (PARTITION_HEADER, str(message.partition()).encode()),
        (OFFSET_HEADER, str(message.offset()).encode()),
        (CONSUMER_HEADER, consumer.encode()),
        (ATTEMPTS_HEADER, str(attempts).encode()),
        (PARKED_AT_HEADER, datetime.now(UTC).isoformat().encode()),
    ]


def dead_letter_producer_config(bootstrap_servers: str, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap_servers,
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": "murmur2_random",
    }


class KafkaDeadLetters:
    """Parks messages in ``<topic><suffix>`` and waits for the broker's acknowledgement."""

    def __init__(
        self, config: Mapping[str, Any], suffix: str = ".dlq", timeout_seconds: float = 30.0
    ) -> None:
        self._producer = Producer(dict(config))
        self._suffix = suffix
        self._timeout = timeout_seconds

    def topic_for(self, topic: str) -> str:
        return f"{topic}{self._suffix}"

    async def park(self, message: Message, consumer: str, error: str, attempts: int) -> str:
        """Publish ``message`` to its dead-letter topic; returns that topic's name.

        Raises :class:`DeadLetterError` unless the broker acknowledged it, so the caller
        never commits past a message that is neither applied nor parked.
        """
        topic = self.topic_for(message.topic() or "")
        headers = parking_headers(message, consumer, error, attempts)
        await asyncio.to_thread(self._send, topic, message.key(), message.value() or b"", headers)
        return topic

    def close(self) -> None:
        self._producer.flush(self._timeout)

    def _send(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        outcome: list[str | None] = []

        def delivered(error: Any, _message: Any) -> None:
            outcome.append(None if error is None else str(error))

        produced: Sequence[tuple[str, str | bytes | None]] = headers
        try:
            self._producer.produce(
                topic, key=key, value=value, headers=list(produced), on_delivery=delivered
            )
        except (KafkaException, BufferError) as exc:
            raise DeadLetterError(f"could not park a message in {topic}: {exc}") from exc
        self._producer.flush(self._timeout)
        if outcome != [None]:
            reason = outcome[0] if outcome else f"no answer within {self._timeout} s"
            raise DeadLetterError(f"could not park a message in {topic}: {reason}")
