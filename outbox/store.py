"""The relay's two statements against the events table: read the queue, mark what was sent."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.tables import EventRow


async def fetch_unpublished(session: AsyncSession, limit: int) -> list[EventRow]:
    """The oldest unpublished events, in append (position) order.

    No row locks: one relay publishes at a time (see ``outbox.lease``), and a relay that
    reads a row another has just marked only publishes a duplicate, never out of order.
    A row committed late with a lower position than rows already sent is still picked up,
    because the query is "unpublished", not "after the last position sent".
    """
    statement = (
        select(EventRow)
        .where(col(EventRow.published_at).is_(None))
        .order_by(col(EventRow.position))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def mark_published(
    session: AsyncSession, event_ids: Collection[uuid.UUID], published_at: datetime
) -> int:
    """Set ``published_at`` on rows the broker acknowledged; returns how many changed.

    ``published_at IS NULL`` keeps the first publication's time when a row was sent twice.
    """
    if not event_ids:
        return 0
    statement = (
        update(EventRow)
        .where(col(EventRow.event_id).in_(list(event_ids)))
        .where(col(EventRow.published_at).is_(None))
        .values(published_at=published_at)
    )
    result = await session.exec(statement)
    return int(result.rowcount)
