"""The order-history read model: one row per order, for listing a customer's orders.

Owned by the reference consumer (``python -m consumers.order_history``); nothing in the
saga writes it. Each update runs in the consumer's inbox transaction, so an event changes
the row at most once. Events of one order arrive in order per topic but not across topics,
so the merge is order-insensitive: the status only ever moves forward along the domain's
transitions, the "last event" is the latest by (time, id), and the rest is filled in by
whichever event carries it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import String
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Index, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.tables import CURRENCY, CUSTOMER_ID, ID, STATUS
from persistence.types import Money


class OrderHistoryRow(SQLModel, table=True):
    __tablename__ = "customer_order_history"

    order_id: str = Field(primary_key=True, sa_type=ID)
    # Unknown until the order's OrderCreated is read (another topic may come first).
    customer_id: str | None = Field(default=None, sa_type=CUSTOMER_ID)
    status: str = Field(sa_type=STATUS)
    total_amount: Decimal | None = Field(default=None, sa_type=Money())
    currency: str | None = Field(default=None, sa_type=CURRENCY)
    placed_at: datetime | None = Field(default=None)
    updated_at: datetime
    last_event_type: str = Field(sa_type=String(128))
    last_event_id: uuid.UUID
    events_applied: int = Field(default=0)


# "A customer's orders, newest first".
Index(
    "ix_customer_order_history_customer_id_placed_at",
    col(OrderHistoryRow.customer_id),
    col(OrderHistoryRow.placed_at).desc(),
)


@dataclass(frozen=True)
class HistoryChange:
    """What one event says about one order; ``None`` fields say nothing."""

    order_id: str
    event_id: uuid.UUID
    event_type: str
    occurred_at: datetime
    status: str | None = None
    customer_id: str | None = None
    total_amount: Decimal | None = None
    currency: str | None = None
    placed: bool = False


StatusOrder = dict[str, frozenset[str]]  # status -> statuses reachable from it


async def apply_change(session: AsyncSession, change: HistoryChange, later: StatusOrder) -> None:
    """Merge ``change`` into its order's row, in the caller's transaction.

    ``later[s]`` lists the statuses an order can reach from ``s``: a status is taken only
    when it is later than the current one, so a late-arriving older event changes nothing.
    """
    await _insert_if_missing(session, change)
    statement = (
        select(OrderHistoryRow)
        .where(col(OrderHistoryRow.order_id) == change.order_id)
        .with_for_update()
    )
    row = (await session.exec(statement)).one()
    if change.status is not None and change.status in later.get(row.status, frozenset()):
        row.status = change.status
    row.customer_id = row.customer_id or change.customer_id
    if change.total_amount is not None:
        row.total_amount, row.currency = change.total_amount, change.currency
    if change.placed:
        row.placed_at = change.occurred_at
    if (change.occurred_at, str(change.event_id)) > (row.updated_at, str(row.last_event_id)):
        row.updated_at = change.occurred_at
        row.last_event_type = change.event_type
        row.last_event_id = change.event_id
    row.events_applied += 1
    session.add(row)


async def _insert_if_missing(session: AsyncSession, change: HistoryChange) -> None:
    # Every order starts PENDING; the first event's own status is merged like any other.
    values = {
        "order_id": change.order_id,
        "status": "PENDING",
        "updated_at": change.occurred_at,
        "last_event_type": change.event_type,
        "last_event_id": change.event_id,
        "events_applied": 0,
    }
    dialect = session.get_bind().dialect.name
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(OrderHistoryRow).values(values)
    else:
        statement = sqlite.insert(OrderHistoryRow).values(values)
    await session.exec(statement.on_conflict_do_nothing(index_elements=["order_id"]))


async def customer_history(
    session: AsyncSession, customer_id: str, limit: int = 100
) -> list[OrderHistoryRow]:
    """A customer's orders, newest first."""
    statement = (
        select(OrderHistoryRow)
        .where(col(OrderHistoryRow.customer_id) == customer_id)
        .order_by(col(OrderHistoryRow.placed_at).desc(), col(OrderHistoryRow.order_id))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def all_history(session: AsyncSession) -> list[OrderHistoryRow]:
    statement = select(OrderHistoryRow).order_by(col(OrderHistoryRow.order_id))
    return list((await session.exec(statement)).all())
