"""Re-publish stored events from the event store to a topic: backfill for a new consumer.

    python -m tools.republish --topic order-history.backfill [--order ID ...]
        [--since 2026-11-01T00:00:00Z] [--until ...] [--aggregate-type order ...]
    python -m tools.republish --original-topics --order ID     # replay into the live topics

Events are read from the ``events`` table in append order (``position``) and sent exactly
as the relay sends them (``outbox.cloudevents.to_message`` through the relay's idempotent
producer): same key, same ``ce_id`` and headers, same bytes. A consumer that already applied
an event skips the copy (it dedupes on ``ce_id``), so re-publishing is always safe. A
missing target topic is created with the domain topics' retention.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka.admin import AdminClient
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import KafkaSettings, load_settings
from outbox.cloudevents import to_message
from outbox.publisher import KafkaPublisher, producer_config
from outbox.topics import ensure_topics, topic_for
from persistence.database import create_engine, session_factory
from persistence.tables import EventRow

log = logging.getLogger("tools.republish")
FLUSH_SECONDS = 30.0


@dataclass(frozen=True)
class Selection:
    """Which events: all filters must hold; empty ones select everything."""

    aggregate_ids: Sequence[str] = ()
    aggregate_types: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class Republished:
    events: int = 0
    per_topic: dict[str, int] = field(default_factory=dict)


class RepublishError(RuntimeError):
    """The broker refused or did not acknowledge some events in time."""


async def fetch_after(
    session: AsyncSession, selection: Selection, after: int, limit: int
) -> list[EventRow]:
    statement = select(EventRow).where(col(EventRow.position) > after)
    if selection.aggregate_ids:
        statement = statement.where(col(EventRow.aggregate_id).in_(selection.aggregate_ids))
    if selection.aggregate_types:
        statement = statement.where(col(EventRow.aggregate_type).in_(selection.aggregate_types))
    if selection.since is not None:
        statement = statement.where(col(EventRow.occurred_at) >= selection.since)
    if selection.until is not None:
        statement = statement.where(col(EventRow.occurred_at) < selection.until)
    statement = statement.order_by(col(EventRow.position)).limit(limit)
    return list((await session.exec(statement)).all())


async def republish(
    sessions: async_sessionmaker[AsyncSession],
    kafka: KafkaSettings,
    selection: Selection,
    topic: str | None,
    *,
    batch_size: int = 500,
    progress: Callable[[Republished], None] | None = None,
) -> Republished:
    """Send the selected events to ``topic`` (``None``: each to its own domain topic)."""
    if topic is not None:
        admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
        await asyncio.to_thread(ensure_topics, admin, kafka, 10.0, [topic])
    publisher = KafkaPublisher(producer_config(kafka, batch_size))
    done = Republished()
    after = 0
    try:
        while True:
            async with sessions() as session:
                rows = await fetch_after(session, selection, after, batch_size)
            if not rows:
                return done
            messages = [
                to_message(row, topic or topic_for(row.aggregate_type, kafka), kafka.event_source)
                for row in rows
            ]
            delivery = publisher.send(messages)
            if await publisher.flush(FLUSH_SECONDS) or delivery.failed or delivery.held_back:
                reasons = sorted({reason for _, reason in delivery.failed}) or ["timed out"]
                raise RepublishError(
                    f"{len(delivery.acked)} of {len(messages)} acknowledged: {'; '.join(reasons)}"
                )
            for message in messages:
                done.per_topic[message.topic] = done.per_topic.get(message.topic, 0) + 1
            done.events += len(messages)
            after = rows[-1].position or after
            if progress is not None:
                progress(done)
    finally:
        publisher.close()


def _datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{value!r} needs a time zone, e.g. 'Z' or '+00:00'")
    return parsed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.republish", description=__doc__)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--topic", help="send every selected event to this topic")
    target.add_argument(
        "--original-topics", action="store_true", help="send each event to its domain topic"
    )
    parser.add_argument("--order", action="append", default=[], help="aggregate id (repeatable)")
    parser.add_argument(
        "--aggregate-type",
        action="append",
        default=[],
        choices=["order", "inventory", "payment", "notification"],
        help="only these aggregate types (repeatable)",
    )
    parser.add_argument("--since", type=_datetime, help="occurred at or after (ISO 8601)")
    parser.add_argument("--until", type=_datetime, help="occurred before (ISO 8601)")
    parser.add_argument("--batch-size", type=int, default=500)
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.kafka.enabled:
        log.error("no Kafka configured: set ORDERS_KAFKA__BOOTSTRAP_SERVERS")
        return 2
    selection = Selection(
        aggregate_ids=args.order,
        aggregate_types=args.aggregate_type,
        since=args.since,
        until=args.until,
    )
    engine = create_engine(settings.database)
    log.info(
        "republishing from %s to %s via %s",
        settings.database.url.split("@")[-1],
        args.topic or "the domain topics",
        settings.kafka.bootstrap_servers,
    )
    try:
        done = await republish(
            session_factory(engine),
            settings.kafka,
            selection,
            args.topic,
            batch_size=args.batch_size,
            progress=lambda so_far: log.info("%d events acknowledged", so_far.events),
        )
    finally:
        await engine.dispose()
    for topic, count in sorted(done.per_topic.items()):
        log.info("%s: %d events", topic, count)
    log.info("republished %d events", done.events)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    return asyncio.run(_main(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
