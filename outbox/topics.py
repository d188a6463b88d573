"""Which topic carries an event, and creating the topics when the relay starts."""

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


def ensure_topics(admin: AdminClient, kafka: KafkaSettings, timeout: float = 10.0) -> list[str]:
    """Create the missing topics; return the names created.

    Raises ``KafkaException`` when the cluster cannot be reached within ``timeout``, so the
    caller can retry. An existing topic is left alone even with another partition count:
    adding partitions would move keys to other partitions and break per-order ordering, which
    is an operator's decision, so it is only logged.
    """
    wanted = sorted(set(topics_by_aggregate(kafka).values()))
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
        NewTopic(name, num_partitions=kafka.partitions, replication_factor=kafka.replication_factor)
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
                "created topic %s (%d partitions, replication %d)",
                name,
                kafka.partitions,
                kafka.replication_factor,
            )
    return created
