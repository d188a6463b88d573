"""How far the relay is behind: for the relay's metrics and the API's ``/readyz``.

Kept free of Kafka imports, so the API can import it without loading a Kafka client.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.tables import EventRow


class OutboxLag(NamedTuple):
    unpublished: int
    oldest_age_seconds: float


async def oldest_unpublished_at(session: AsyncSession) -> datetime | None:
    """``occurred_at`` of the event at the head of the queue (lowest position), if any.

    The head, not ``min(occurred_at)``: it is what the relay waits on, and it is one probe
    of the partial index on unpublished positions however long the backlog is.
    """
    statement = (
        select(EventRow.occurred_at)
        .where(col(EventRow.published_at).is_(None))
        .order_by(col(EventRow.position))
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def unpublished_count(session: AsyncSession) -> int:
    statement = (
        select(func.count()).select_from(EventRow).where(col(EventRow.published_at).is_(None))
    )
    return int((await session.exec(statement)).one())


def age_seconds(occurred_at: datetime | None, now: datetime | None = None) -> float:
    """Seconds since ``occurred_at``; 0 when there is nothing waiting (or clocks disagree)."""
    if occurred_at is None:
        return 0.0
    elapsed = (now or datetime.now(UTC)) - occurred_at
    return max(elapsed.total_seconds(), 0.0)


async def outbox_lag(session: AsyncSession, now: datetime | None = None) -> OutboxLag:
    """(unpublished events, age in seconds of the oldest one); ``(0, 0.0)`` when caught up."""
    count = await unpublished_count(session)
    oldest = await oldest_unpublished_at(session) if count else None
    return OutboxLag(unpublished=count, oldest_age_seconds=age_seconds(oldest, now))
