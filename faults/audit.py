"""After the faults: what the database, the provider's ledger and the topics hold.

Everything is counted from outside the services, by order id: the orders table, the event
store (the outbox), the provider's ledger file, every message on the four topics (by
``ce_id``) and what the dedup consumer (``outbox.consumer.InboxConsumer``) applied.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

import psycopg
from confluent_kafka import Consumer

from config.settings import KafkaSettings

ORDER_KEY_PREFIX = "order-"  # persistence/payments.py: the provider key per order


@dataclass
class Books:
    """The state of the world for a set of orders, read once all has settled."""

    statuses: dict[str, str] = field(default_factory=dict)  # in the orders table
    events: dict[str, str] = field(default_factory=dict)  # event id -> order id
    unpublished: int = 0
    charges: Counter[str] = field(default_factory=Counter)  # order id -> charges
    charges_without_order: list[str] = field(default_factory=list)
    on_topics: Counter[str] = field(default_factory=Counter)  # ce_id -> messages


def read_database(conninfo: str, order_ids: Collection[str]) -> Books:
    books = Books()
    ids = list(order_ids)
    with psycopg.connect(conninfo) as conn:
        for order_id, status in conn.execute(
            "SELECT id::text, status FROM orders WHERE id::text = ANY(%s)", (ids,)
        ):
            books.statuses[str(order_id)] = str(status)
        for event_id, aggregate_id, published_at in conn.execute(
            "SELECT event_id::text, aggregate_id, published_at FROM events"
            " WHERE aggregate_id::text = ANY(%s)",
            (ids,),
        ):
            books.events[str(event_id)] = str(aggregate_id)
            books.unpublished += published_at is None
    return books


def unpublished(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE published_at IS NULL").fetchone()
    return int(row[0]) if row else 0


def read_ledger(ledger_path: str, books: Books, all_orders: Collection[str]) -> None:
    """Charges per order; a charge whose order the shop has no record of is counted apart."""
    conn = sqlite3.connect(f"file:{ledger_path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT idempotency_key, count(*) FROM charges WHERE status != 'VOIDED'"
            " GROUP BY idempotency_key"
        ).fetchall()
    finally:
        conn.close()
    known = set(all_orders)
    for key, count in rows:
        order_id = str(key).removeprefix(ORDER_KEY_PREFIX)
        if order_id in known:
            books.charges[order_id] = int(count)
        else:
            books.charges_without_order.append(order_id)


def read_topics(bootstrap: str, books: Books, quiet_seconds: float = 8.0) -> None:
    """Every message of ours on the four topics, counted by ``ce_id``."""
    topics = KafkaSettings()
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"fault-audit-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
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
    wanted = set(books.events)
    last_new = time.monotonic()
    try:
        while time.monotonic() - last_new < (
            2.0 if len(books.on_topics) == len(wanted) else quiet_seconds
        ):
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            ce_id = dict(message.headers() or []).get("ce_id")
            text = ce_id.decode() if isinstance(ce_id, bytes) else str(ce_id)
            if text in wanted:
                books.on_topics[text] += 1
                last_new = time.monotonic()
    finally:
        consumer.close()
