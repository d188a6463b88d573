"""Every event of the measured orders reached Kafka: the relay drained, the topics hold them."""

from __future__ import annotations

import asyncio
import time

import psycopg

from bench.kafka_count import count_events
from devstack.stack import Stack


def _unpublished_and_total(stack: Stack, order_ids: list[str]) -> tuple[int, int]:
    assert stack.postgres is not None
    with psycopg.connect(stack.postgres.conninfo("orders")) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE published_at IS NULL), count(*) FROM events"
            " WHERE aggregate_id = ANY(%s)",
            (order_ids,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def events_delivered(stack: Stack, order_ids: list[str], wait: float) -> dict[str, int]:
    """Waits for the relay to drain, then counts the orders' events on the topics by ce_id."""
    deadline = time.monotonic() + wait
    unpublished, total = _unpublished_and_total(stack, order_ids)
    while unpublished and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        unpublished, total = _unpublished_and_total(stack, order_ids)
    assert stack.kafka is not None
    on_topics = await asyncio.to_thread(
        count_events, stack.kafka.bootstrap_servers, set(order_ids), total, wait
    )
    return {"in_event_store": total, "unpublished": unpublished, "on_topics": on_topics}
