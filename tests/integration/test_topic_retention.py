"""Topics are created with the retention the settings choose, dead-letter topics longer."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType

from devstack.kafka import KafkaBroker
from outbox.topics import DAY_MS, ensure_topics
from tests.integration.outbox_helpers import kafka_settings

pytestmark = pytest.mark.integration


def described(admin: AdminClient, topic: str) -> dict[str, str]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=30)
    return {name: str(entry.value) for name, entry in entries.items()}


async def test_domain_and_dead_letter_topics_get_time_based_retention_and_no_compaction(
    kafka_broker: KafkaBroker,
) -> None:
    """The relay's topic creation sets cleanup.policy=delete and retention.ms from the
    settings on every domain topic, and the longer dead-letter retention on each .dlq."""
    kafka = kafka_settings(kafka_broker.bootstrap_servers).model_copy(
        update={"retention_days": 14, "dead_letter_retention_days": 60}
    )
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
    created = await asyncio.to_thread(ensure_topics, admin, kafka)

    assert len(created) == 8
    order = await asyncio.to_thread(described, admin, kafka.order_topic)
    parked = await asyncio.to_thread(described, admin, f"{kafka.order_topic}.dlq")
    assert (order["cleanup.policy"], order["retention.ms"]) == ("delete", str(14 * DAY_MS))
    assert (parked["cleanup.policy"], parked["retention.ms"]) == ("delete", str(60 * DAY_MS))
    assert order["retention.bytes"] == "-1"
    assert await asyncio.to_thread(ensure_topics, admin, kafka) == []
