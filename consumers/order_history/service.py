"""Wiring of the order-history consumer: the handler, its Kafka clients, the run loop.

Kept apart from ``__main__`` so tests build the very same consumer in-process.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import Settings
from consumers.metrics import ConsumerMetrics
from consumers.order_history.projection import change_for, later_statuses
from consumers.validation import SchemaValidator
from outbox.cloudevents import ReceivedEvent
from outbox.consumer import Handler, InboxConsumer, PollResult, RetryPolicy, consumer_config
from outbox.dead_letters import KafkaDeadLetters, dead_letter_producer_config
from outbox.topics import dead_letter_topic, ensure_topics
from persistence.order_history import apply_change

log = logging.getLogger("consumers.order_history")


async def handle(session: AsyncSession, event: ReceivedEvent) -> None:
    """The read model's effect of one event, in the inbox transaction."""
    change = change_for(event)
    if change is not None:
        await apply_change(session, change, later_statuses())


def consumer_topics(settings: Settings) -> list[str]:
    kafka = settings.kafka
    return settings.consumer.topics or [
        kafka.order_topic,
        kafka.inventory_topic,
        kafka.payment_topic,
    ]


@dataclass
class OrderHistoryConsumer:
    consumer: InboxConsumer
    dead_letters: KafkaDeadLetters
    topics: list[str]

    async def close(self) -> None:
        await self.consumer.close()
        await asyncio.to_thread(self.dead_letters.close)


def build(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], handler: Handler = handle
) -> OrderHistoryConsumer:
    """The consumer with its dead-letter producer; nothing is polled yet."""
    options = settings.consumer
    topics = consumer_topics(settings)
    dead_letters = KafkaDeadLetters(
        dead_letter_producer_config(settings.kafka.bootstrap_servers, f"{options.name}-dlq"),
        suffix=settings.kafka.dead_letter_suffix,
    )
    config = consumer_config(settings.kafka.bootstrap_servers, options.group)
    config["session.timeout.ms"] = int(options.session_timeout_seconds * 1000)
    consumer = InboxConsumer(
        options.name,
        topics,
        sessions,
        handler,
        config,
        dead_letters=dead_letters,
        validate=SchemaValidator(),
        retry=RetryPolicy(
            max_attempts=options.max_attempts,
            backoff_seconds=options.retry_backoff_seconds,
            backoff_max_seconds=options.retry_backoff_max_seconds,
            on_exhausted=options.on_exhausted,
        ),
    )
    return OrderHistoryConsumer(consumer, dead_letters, topics)


def ensure_dead_letter_topics(settings: Settings, topics: list[str]) -> None:
    """Create the ``.dlq`` topics with their longer retention, if they are missing.

    Best effort: the broker may be starting; the first parked message then waits for it.
    """
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers})
    names = [dead_letter_topic(topic, settings.kafka) for topic in topics]
    try:
        ensure_topics(admin, settings.kafka, names=names)
    except KafkaException as exc:
        log.warning("could not check the dead-letter topics %s yet: %s", names, exc)


async def run(
    built: OrderHistoryConsumer,
    settings: Settings,
    stop: asyncio.Event,
    metrics: ConsumerMetrics,
) -> None:
    """Consume until ``stop``; the batch in flight is finished and committed first."""
    totals = PollResult()

    async def after_poll(result: PollResult) -> None:
        metrics.record(result)
        for outcome in ("applied", "duplicates", "skipped", "dead_lettered"):
            setattr(totals, outcome, getattr(totals, outcome) + getattr(result, outcome))
        if result.applied or result.dead_lettered or result.duplicates:
            log.info(
                "applied %d, duplicates %d, dead-lettered %d so far",
                totals.applied,
                totals.duplicates,
                totals.dead_lettered,
            )
        await metrics.sample_lag(built.consumer)

    await built.consumer.run(
        stop,
        poll_seconds=settings.consumer.poll_seconds,
        max_messages=settings.consumer.max_messages_per_poll,
        after_poll=after_poll,
    )
