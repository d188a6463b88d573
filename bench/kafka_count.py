"""Counts, on the real topics, the distinct events (by ce_id) that belong to given orders."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer

from config.settings import KafkaSettings


def count_events(bootstrap: str, keys: set[str], expected: int, timeout: float) -> int:
    topics = KafkaSettings()
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(
        [
            topics.order_topic,
            topics.inventory_topic,
            topics.payment_topic,
            topics.notification_topic,
        ]
    )
    seen: set[bytes] = set()
    deadline = time.monotonic() + timeout
    idle_since = time.monotonic()
    try:
        while time.monotonic() < deadline and len(seen) < expected:
            message = consumer.poll(0.5)
            if message is None or message.error():
                # Stop once the topics have been quiet for a while after reaching none new.
                if seen and time.monotonic() - idle_since > 10:
                    break
                continue
            idle_since = time.monotonic()
            key = message.key()
            if key is None or key.decode() not in keys:
                continue
            ce_id = dict(message.headers() or []).get("ce_id")
            seen.add(ce_id if isinstance(ce_id, bytes) else str(ce_id).encode())
    finally:
        consumer.close()
    return len(seen)
