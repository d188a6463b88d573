"""Consumer and topic settings that cannot work are refused; the retry backoff's shape."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import ConsumerSettings, KafkaSettings
from outbox.consumer import RetryPolicy
from outbox.topics import DAY_MS, dead_letter_topic, topic_config


def test_a_dead_letter_retention_shorter_than_the_events_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="ORDERS_KAFKA__DEAD_LETTER_RETENTION_DAYS"):
        KafkaSettings(retention_days=30, dead_letter_retention_days=7)


def test_a_backoff_ceiling_below_its_start_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="ORDERS_CONSUMER__RETRY_BACKOFF_MAX_SECONDS"):
        ConsumerSettings(retry_backoff_seconds=5, retry_backoff_max_seconds=1)


def test_the_group_defaults_to_the_consumer_name() -> None:
    assert ConsumerSettings(name="billing").group == "billing"
    assert ConsumerSettings(name="billing", group_id="billing-v2").group == "billing-v2"


def test_the_backoff_doubles_per_attempt_up_to_its_ceiling() -> None:
    policy = RetryPolicy(max_attempts=8, backoff_seconds=0.5, backoff_max_seconds=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_domain_topics_delete_by_time_and_dead_letter_topics_keep_longer() -> None:
    kafka = KafkaSettings(retention_days=30, dead_letter_retention_days=90)
    domain = topic_config(kafka.order_topic, kafka)
    parked = topic_config(dead_letter_topic(kafka.order_topic, kafka), kafka)
    assert domain == {
        "cleanup.policy": "delete",
        "retention.ms": str(30 * DAY_MS),
        "retention.bytes": "-1",
    }
    assert parked["retention.ms"] == str(90 * DAY_MS)
    assert dead_letter_topic("order-events", kafka) == "order-events.dlq"
