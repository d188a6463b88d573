"""The relay's Kafka producer: idempotent, ``acks=all``, and never a gap within a partition.

Per-order ordering rests on one property: for each partition, the messages the broker
acknowledges from one producer are a prefix of what that producer was given, in order.
Idempotence gives order and no duplicates on retries; ``message.timeout.ms=0`` removes the
one ordinary cause of gaps (a message expiring while the broker is away, after which
librdkafka would carry on with the next ones); ``enable.gapless.guarantee`` turns any other
gap-making error into a fatal error, after which the relay starts a new producer and
re-reads the table. Whatever is unacknowledged is simply sent again later.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException, Producer
from opentelemetry.trace import Span, Status, StatusCode

from config.settings import KafkaSettings
from outbox.cloudevents import TRACEPARENT_HEADER, OutgoingMessage
from telemetry.tracing import span_traceparent, start_producer_span

log = logging.getLogger(__name__)
CLIENT_ID = "order-saga-outbox-relay"


def producer_config(kafka: KafkaSettings, batch_size: int) -> dict[str, Any]:
    return {
        **kafka.client_config(),  # brokers, TLS and SASL
        "client.id": CLIENT_ID,
        "enable.idempotence": True,
        "acks": "all",
        # The Java clients' key hashing: a key maps to the same partition whichever client
        # (or Kafka Streams job) produces it, and consumers can rely on it.
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "message.timeout.ms": 0,
        "enable.gapless.guarantee": True,
        # Reconnect within a second of the broker's return instead of up to ten.
        "reconnect.backoff.max.ms": 1000,
        # A whole batch always fits in the local queue, so produce() never has to wait.
        "queue.buffering.max.messages": max(100_000, 2 * batch_size),
    }


@dataclass
class Delivery:
    """What became of one batch; filled in by the delivery callbacks."""

    total: int
    sent: int = 0
    acked: list[OutgoingMessage] = field(default_factory=list)
    failed: list[tuple[OutgoingMessage, str]] = field(default_factory=list)
    held_back: int = 0
    _answered: int = 0

    @property
    def pending(self) -> int:
        """Messages handed to the producer and not yet acknowledged or refused."""
        return self.sent - self._answered

    def on_delivery(self, message: OutgoingMessage, error: Any, _record: Any) -> None:
        self._answered += 1
        if error is None:
            self.acked.append(message)
        else:
            self.failed.append((message, str(error)))


class KafkaPublisher:
    """Owns one ``Producer`` at a time; :meth:`reset` swaps in a fresh one."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = {
            **config,
            "error_cb": self._on_error,
            "logger": logging.getLogger("outbox.librdkafka"),
        }
        self._fatal: str | None = None
        self._last_error = ""
        self._producer = Producer(self._config)

    @property
    def fatal_error(self) -> str | None:
        """Set once librdkafka declared this producer unusable; :meth:`reset` clears it."""
        return self._fatal

    def send(self, messages: Sequence[OutgoingMessage]) -> Delivery:
        """Hand ``messages`` to the producer in order; acknowledgements arrive on :meth:`flush`.

        When one cannot even be queued (too large, say), the later messages with its key are
        held back so they cannot overtake it; other keys go ahead.
        """
        delivery = Delivery(total=len(messages))
        blocked: set[bytes] = set()
        for message in messages:
            if message.key in blocked:
                delivery.held_back += 1
                continue
            span, headers = _traced(message)
            try:
                self._producer.produce(
                    message.topic,
                    key=message.key,
                    value=message.value,
                    headers=headers,
                    on_delivery=functools.partial(_answered, delivery, message, span),
                )
            except (KafkaException, BufferError, ValueError) as exc:
                blocked.add(message.key)
                delivery.failed.append((message, str(exc)))
                _end_span(span, str(exc))
            else:
                delivery.sent += 1
        return delivery

    async def flush(self, seconds: float) -> int:
        """Wait up to ``seconds`` for acknowledgements; returns messages still queued."""
        remaining: int = await asyncio.to_thread(self._producer.flush, seconds)
        return remaining

    def reset(self) -> None:
        """Drop everything queued and start a new producer (a new producer id and epoch).

        Used after a fatal error and when leadership is lost, so that nothing this producer
        still holds reaches the broker behind the new leader's messages.
        """
        old = self._producer
        old.purge(in_queue=True, in_flight=True, blocking=False)
        old.flush(0)
        self._producer = Producer(self._config)
        self._fatal = None
        self._last_error = ""

    def close(self, timeout: float = 5.0) -> None:
        remaining = self._producer.flush(timeout)
        if remaining:
            log.warning("closing the producer with %d messages unacknowledged", remaining)

    def _on_error(self, error: Any) -> None:
        # Called from the thread running flush(). Transport errors repeat every reconnect
        # attempt while the broker is away: log each change, not each repetition.
        text = str(error)
        if error.fatal():
            self._fatal = text
            log.error("Kafka producer failed fatally, it will be replaced: %s", text)
        elif text != self._last_error:
            log.warning("Kafka producer: %s", text)
        self._last_error = text


def _traced(message: OutgoingMessage) -> tuple[Span, list[tuple[str, str | bytes | None]]]:
    """A PRODUCER span, child of the event's stored trace context, and the headers with
    the span's own ``traceparent`` in place of the stored one (consumers become its
    children; the trace id is the same)."""
    stored = next((v for k, v in message.headers if k == TRACEPARENT_HEADER), None)
    span = start_producer_span(
        message.topic, message.key, str(message.event_id), stored.decode() if stored else None
    )
    headers: list[tuple[str, str | bytes | None]] = [
        (name, value) for name, value in message.headers if name != TRACEPARENT_HEADER
    ]
    traceparent = span_traceparent(span)
    if traceparent is not None:
        headers.append((TRACEPARENT_HEADER, traceparent.encode()))
    return span, headers


def _answered(
    delivery: Delivery, message: OutgoingMessage, span: Span, error: Any, record: Any
) -> None:
    # The span lasts until the broker answered: its duration is the publish latency.
    _end_span(span, None if error is None else str(error))
    delivery.on_delivery(message, error, record)


def _end_span(span: Span, error: str | None) -> None:
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end()
