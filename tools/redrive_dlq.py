"""Re-drive a dead-letter topic into the topic its messages came from, after the fix.

    python -m tools.redrive_dlq --topic order-events.dlq [--to order-events] [--dry-run]

Reads the dead-letter topic from where the last re-drive stopped (consumer group
``redrive-<topic>``) up to its end as of the start, and publishes each message to its
original topic (``dlq_original_topic`` header, or ``--to``) with its key, value and original
headers -- the ``dlq_*`` ones removed -- so the ``ce_id`` is unchanged and consumers that
had applied it skip it. Offsets are committed only after the broker acknowledged every
copy: a failed re-drive is simply run again. ``--dry-run`` lists the messages and commits
nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from config.settings import load_settings
from outbox.dead_letters import (
    ERROR_HEADER,
    TOPIC_HEADER,
    dead_letter_producer_config,
    header_values,
    original_headers,
)

log = logging.getLogger("tools.redrive_dlq")
TIMEOUT_SECONDS = 30.0


@dataclass
class Redriven:
    messages: int = 0
    per_topic: dict[str, int] = field(default_factory=dict)


class RedriveError(RuntimeError):
    """Some copies were not acknowledged; nothing was committed."""


def target_of(message: Message, dead_letter_topic: str, suffix: str) -> str:
    original = header_values(message).get(TOPIC_HEADER)
    if original:
        return original
    if dead_letter_topic.endswith(suffix):
        return dead_letter_topic[: -len(suffix)]
    raise RedriveError(f"{dead_letter_topic}: a message names no original topic; pass --to")


def _pending(consumer: Consumer, topic: str) -> dict[int, tuple[int, int]]:
    """Partition -> (first offset to re-drive, end offset as of now), non-empty ones only."""
    metadata = consumer.list_topics(topic, timeout=TIMEOUT_SECONDS).topics.get(topic)
    if metadata is None or metadata.error is not None:
        raise RedriveError(f"no topic {topic}")
    partitions = [TopicPartition(topic, p) for p in sorted(metadata.partitions)]
    committed = consumer.committed(partitions, timeout=TIMEOUT_SECONDS)
    ranges = {}
    for partition in committed:
        low, high = consumer.get_watermark_offsets(partition, timeout=TIMEOUT_SECONDS)
        start = max(partition.offset, low) if partition.offset >= 0 else low
        if start < high:
            ranges[partition.partition] = (start, high)
    return ranges


def redrive(
    bootstrap_servers: str,
    topic: str,
    *,
    to: str | None = None,
    suffix: str = ".dlq",
    group: str | None = None,
    dry_run: bool = False,
) -> Redriven:
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group or f"redrive-{topic}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    }
    consumer = Consumer(config)
    producer = Producer(dead_letter_producer_config(bootstrap_servers, "order-saga-redrive"))
    done = Redriven()
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    try:
        ranges = _pending(consumer, topic)
        consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in ranges.items()])
        remaining = {p: end for p, (_, end) in ranges.items()}
        while remaining:
            message = consumer.poll(TIMEOUT_SECONDS)
            if message is None:
                raise RedriveError(f"{topic}: no message within {TIMEOUT_SECONDS} s")
            error = message.error()
            if error is not None:
                raise KafkaException(error)
            partition, offset = message.partition() or 0, message.offset() or 0
            if partition not in remaining or offset >= remaining[partition]:
                continue
            target = to or target_of(message, topic, suffix)
            headers = header_values(message)
            log.info(
                "%s %d/%d -> %s  ce_id=%s  error: %s",
                "would re-drive" if dry_run else "re-driving",
                partition,
                offset,
                target,
                headers.get("ce_id", "-"),
                headers.get(ERROR_HEADER, "-"),
            )
            if not dry_run:
                pairs: list[tuple[str, str | bytes | None]] = [*original_headers(message)]
                producer.produce(
                    target,
                    key=message.key(),
                    value=message.value(),
                    headers=pairs,
                    on_delivery=delivered,
                )
            done.messages += 1
            done.per_topic[target] = done.per_topic.get(target, 0) + 1
            if offset + 1 >= remaining[partition]:
                del remaining[partition]
        if dry_run:
            return done
        if producer.flush(TIMEOUT_SECONDS) or failures:
            raise RedriveError(f"copies not acknowledged ({'; '.join(failures) or 'timeout'})")
        if ranges:
            offsets = [TopicPartition(topic, p, end) for p, (_, end) in ranges.items()]
            consumer.commit(offsets=offsets, asynchronous=False)
        return done
    finally:
        consumer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.redrive_dlq", description=__doc__)
    parser.add_argument(
        "--topic", required=True, help="the dead-letter topic, e.g. order-events.dlq"
    )
    parser.add_argument("--to", help="target topic (default: each message's original topic)")
    parser.add_argument("--group", help="consumer group (default: redrive-<topic>)")
    parser.add_argument("--bootstrap-servers", help="default: from the settings")
    parser.add_argument("--dry-run", action="store_true", help="list, publish nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = load_settings()
    bootstrap = args.bootstrap_servers or settings.kafka.bootstrap_servers
    if not bootstrap:
        log.error("no Kafka configured: pass --bootstrap-servers or set KAFKA_BOOTSTRAP_SERVERS")
        return 2
    log.info("re-driving %s via %s", args.topic, bootstrap)
    done = redrive(
        bootstrap,
        args.topic,
        to=args.to,
        suffix=settings.kafka.dead_letter_suffix,
        group=args.group,
        dry_run=args.dry_run,
    )
    for topic, count in sorted(done.per_topic.items()):
        log.info("%s: %d messages", topic, count)
    log.info("%s %d messages", "found" if args.dry_run else "re-drove", done.messages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
