"""Which topic carries an event, and creating the topics (with their retention) at start-up.

Domain topics delete by time (``retention.ms`` from ``ORDERS_KAFKA__RETENTION_DAYS``), never
compact: keyed by order id, compaction would keep only an order's latest event and drop
the rest of its history. Dead-letter topics (``<topic>.dlq``) keep their messages longer
(``ORDERS_KAFKA__DEAD_LETTER_RETENTION_DAYS``), so a parked message outlives the fix.
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from config.settings import KafkaSettings

log = logging.getLogger(__name__)


class UnknownAggregateTypeError(ValueError):
    """An events row whose aggregate type has no topic: written around the event store."""


def topics_by_aggregate(kafka: KafkaSettings) -> dict[str, str]:
    """One topic per domain, keyed by ``EventRow.aggregate_type``."""
    return {
        "order": kafka.order_topic,
        "inventory": kafka.inventory_topic,
        "payment": kafka.payment_topic,
        "notification": kafka.notification_topic,
    }


def topic_for(aggregate_type: str, kafka: KafkaSettings) -> str:
    try:
        return topics_by_aggregate(kafka)[aggregate_type]
    except KeyError:
        raise UnknownAggregateTypeError(f"no topic for aggregate type {aggregate_type!r}") from None


DAY_MS = 24 * 3600 * 1000


def dead_letter_topic(topic: str, kafka: KafkaSettings) -> str:
    return f"{topic}{kafka.dead_letter_suffix}"


def topic_config(name: str, kafka: KafkaSettings) -> dict[str, str]:
    """The configuration a topic is created with: time-based deletion, no compaction."""
    dead_letters = name.endswith(kafka.dead_letter_suffix)
    days = kafka.dead_letter_retention_days if dead_letters else kafka.retention_days
    return {
        "cleanup.policy": "delete",
        "retention.ms": str(days * DAY_MS),
        # No size cap: a busy week must not push older events out before their time.
        "retention.bytes": "-1",
    }


def ensure_topics(
    admin: AdminClient,
    kafka: KafkaSettings,
    timeout: float = 10.0,
    names: list[str] | None = None,
) -> list[str]:
    """Create the missing topics (default: the domain topics and their dead-letter topics);
    return the names created.

    Raises ``KafkaException`` when the cluster cannot be reached within ``timeout``, so the
    caller can retry. An existing topic is left alone even with another partition count:
    adding partitions would move keys to other partitions and break per-order ordering, which
    is an operator's decision, so it is only logged.
    """
    if names is None:
        domain = set(topics_by_aggregate(kafka).values())
        names = [*domain, *(dead_letter_topic(name, kafka) for name in domain)]
    wanted = sorted(set(names))
    existing = admin.list_topics(timeout=timeout).topics
    for name in wanted:
        metadata = existing.get(name)
        if metadata is not None and len(metadata.partitions) != kafka.partitions:
            log.warning(
                "topic %s has %d partitions, settings ask for %d; left as it is",
                name,
                len(metadata.partitions),
                kafka.partitions,
            )
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return []
    new_topics = [
        NewTopic(
            name,
            num_partitions=kafka.partitions,
            replication_factor=kafka.replication_factor,
            config=topic_config(name, kafka),
        )
        for name in missing
    ]
    futures = admin.create_topics(new_topics, operation_timeout=timeout, request_timeout=timeout)
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            # Another relay (or an operator) created it between our listing and our request.
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
        else:
            created.append(name)
            log.info(
                "created topic %s (%d partitions, replication %d, %s)",
                name,
                kafka.partitions,
                kafka.replication_factor,
                topic_config(name, kafka),
            )
    return created
