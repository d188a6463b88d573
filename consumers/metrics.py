"""A consumer's Prometheus metrics: how far behind it is and what became of each message.

``consumer_lag_messages{group,topic,partition}`` is the group's lag as Kafka's own tools
count it (high watermark minus committed offset), sampled every
``ORDERS_CONSUMER__LAG_INTERVAL_SECONDS`` between polls (the Kafka client is not shared
with the scrape thread).
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaException
from prometheus_client import CollectorRegistry, Counter, Gauge

from outbox.consumer import InboxConsumer, PollResult

log = logging.getLogger(__name__)
OUTCOMES = ("applied", "duplicates", "skipped", "dead_lettered")


class ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry, group: str, interval_seconds: float) -> None:
        self._group = group
        self._interval = interval_seconds
        self._sampled_at = float("-inf")
        self.lag = Gauge(
            "consumer_lag_messages",
            "Messages on the partition not yet committed by this consumer group.",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.messages = Counter(
            "consumer_messages",
            "Messages handled, by outcome (applied, duplicates, skipped, dead_lettered).",
            ["group", "outcome"],
            registry=registry,
        )
        for outcome in OUTCOMES:
            self.messages.labels(group, outcome)

    def record(self, result: PollResult) -> None:
        for outcome in OUTCOMES:
            count = getattr(result, outcome)
            if count:
                self.messages.labels(self._group, outcome).inc(count)

    async def sample_lag(self, consumer: InboxConsumer, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._sampled_at < self._interval:
            return
        try:
            lag = await consumer.lag()
        except KafkaException as exc:  # a broker hiccup must not stop the consuming
            self._sampled_at = now
            log.warning("could not sample the consumer lag: %s", exc)
            return
        if not lag:
            # Nothing assigned or fetched yet (a rebalance): no sample, so the next poll
            # tries again instead of leaving the lag unreported for a whole interval.
            return
        self._sampled_at = now
        for (topic, partition), behind in lag.items():
            self.lag.labels(self._group, topic, str(partition)).set(behind)
