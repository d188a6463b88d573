"""Shared pieces of the order-history consumer tests: settings, orders, polling, reading."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import ConsumerSettings, DatabaseSettings, KafkaSettings, Settings
from consumers.order_history.service import OrderHistoryConsumer
from models.events import (
    DomainEvent,
    EventItem,
    InventoryReserved,
    NotificationSent,
    OrderConfirmed,
    OrderCreated,
    PaymentProcessed,
)
from outbox.consumer import PollResult
from outbox.relay import build_relay
from persistence.order_history import OrderHistoryRow, all_history
from persistence.tables import EventRow, InboxRow
from tests.integration.outbox_helpers import (
    FAST_OUTBOX,
    append,
    running,
    wait_for,
    wait_until_published,
)

# Of an order's five events, the consumer reads four: not the notification topic.
CONSUMED_PER_ORDER = 4


def consumer_settings(
    kafka: KafkaSettings, database_url: str, name: str = "order-history", **options: object
) -> Settings:
    """Settings of one test's consumer: its own group, quick retries."""
    consumer = ConsumerSettings(
        name=name,
        group_id=f"{name}-{uuid.uuid4().hex[:8]}",
        poll_seconds=0.5,
        retry_backoff_seconds=0.05,
        retry_backoff_max_seconds=0.2,
        **options,
    )
    return Settings(kafka=kafka, database=DatabaseSettings(url=database_url), consumer=consumer)


def order_events(order_id: str, customer_id: str, total: str = "25.00") -> list[DomainEvent]:
    """One order's happy path, with a customer and total of the caller's choice."""
    line = EventItem(product_id="sku-espresso-beans", quantity=1, unit_price=Decimal(total))
    return [
        OrderCreated(
            order_id=order_id,
            customer_id=customer_id,
            items=(line,),
            total_amount=Decimal(total),
            currency="EUR",
        ),
        InventoryReserved(
            order_id=order_id, items=(EventItem(product_id="sku-espresso-beans", quantity=1),)
        ),
        PaymentProcessed(
            order_id=order_id,
            payment_id=f"pay-{order_id}",
            amount=Decimal(total),
            currency="EUR",
            status="CAPTURED",
        ),
        NotificationSent(
            notification_id=f"ntf-{order_id}",
            order_id=order_id,
            customer_id=customer_id,
            notification_type="ORDER_CONFIRMED",
            channel="log",
        ),
        OrderConfirmed(order_id=order_id),
    ]


async def record_orders(
    sessions: async_sessionmaker[AsyncSession], count: int, customers: int = 3
) -> list[str]:
    """``count`` orders' events in the event store, one transaction per event."""
    order_ids = [str(uuid.uuid4()) for _ in range(count)]
    for index, order_id in enumerate(order_ids):
        for event in order_events(order_id, f"customer-{index % customers}", f"{10 + index}.50"):
            await append(sessions, [event])
    return order_ids


async def publish_pending(
    sessions: async_sessionmaker[AsyncSession], kafka: KafkaSettings, database_url: str
) -> None:
    """Run the real relay until every stored event is on its topic."""
    relay = build_relay(sessions, DatabaseSettings(url=database_url), kafka, FAST_OUTBOX)
    async with running(relay):
        await wait_until_published(sessions, within=120)


@dataclass
class Totals(PollResult):
    polls: int = 0
    raised: int = 0  # polls that ended in a handler's error (retried by the next poll)

    def add(self, result: PollResult) -> None:
        self.polls += 1
        self.applied += result.applied
        self.duplicates += result.duplicates
        self.skipped += result.skipped
        self.dead_lettered += result.dead_lettered


async def consume_until(
    built: OrderHistoryConsumer, handled: int, within: float = 90, quiet_polls: int = 0
) -> Totals:
    """Poll until ``handled`` messages were handled (any outcome), then ``quiet_polls`` more
    (which must find nothing more to do, or the totals show it). A handler's error is
    counted and the next poll retries, as ``InboxConsumer.run`` would."""
    totals = Totals()

    async def enough() -> bool:
        try:
            totals.add(await built.consumer.poll(seconds=0.5))
        except Exception:  # as InboxConsumer.run does: the message was rewound, poll again
            totals.raised += 1
        seen = totals.applied + totals.duplicates + totals.skipped + totals.dead_lettered
        return seen >= handled

    await wait_for(enough, within, f"{handled} messages handled")
    for _ in range(quiet_polls):
        totals.add(await built.consumer.poll(seconds=0.5))
    return totals


async def history(sessions: async_sessionmaker[AsyncSession]) -> list[OrderHistoryRow]:
    async with sessions() as session:
        return await all_history(session)


def comparable(rows: list[OrderHistoryRow]) -> list[tuple[object, ...]]:
    """Everything the read model says about each order."""
    return [
        (
            row.order_id,
            row.customer_id,
            row.status,
            row.total_amount,
            row.currency,
            row.placed_at,
            row.updated_at,
            row.last_event_type,
            row.last_event_id,
            row.events_applied,
        )
        for row in rows
    ]


async def inbox_count(sessions: async_sessionmaker[AsyncSession], consumer: str) -> int:
    async with sessions() as session:
        statement = select(func.count()).select_from(InboxRow).where(InboxRow.consumer == consumer)
        return int((await session.exec(statement)).one())


async def stored_events(sessions: async_sessionmaker[AsyncSession]) -> list[EventRow]:
    async with sessions() as session:
        return list((await session.exec(select(EventRow))).all())
