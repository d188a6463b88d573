"""Notifications as stored: UNIQUE(order_id, type), so each kind of notice goes out at
most once per order; its status moves PENDING → SENT (or FAILED, then SENT on a retry)."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Row, Select, bindparam, func, insert, literal_column, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from models import (
    Notification,
    NotificationSent,
    NotificationStatus,
    NotificationType,
    Order,
    notification_sources,
)
from persistence import orders
from persistence.batch import Batch, run
from persistence.bound import Bound, Write, param
from persistence.event_inserts import event_values, insert_per_row
from persistence.event_store import Pending
from persistence.tables import NotificationRow, OrderRow, utc_now

__all__ = ["add", "find", "find_with_order", "load", "record_sent", "update_status"]

_NOTICES = NotificationRow.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped
_ORDERS = OrderRow.__table__  # type: ignore[attr-defined]
_COLUMNS = (
    _NOTICES.c.id,
    _NOTICES.c.order_id,
    _NOTICES.c.customer_id,
    _NOTICES.c.type,
    _NOTICES.c.status,
    _NOTICES.c.content,
)


_FIND = select(*_COLUMNS).where(
    _NOTICES.c.order_id == bindparam("order_id"), _NOTICES.c.type == bindparam("type")
)
_LOAD = select(*_COLUMNS).where(_NOTICES.c.id == bindparam("id")).with_for_update()
_INSERT_COLUMNS = ("id", "order_id", "customer_id", "type", "status", "channel", "content")


@functools.cache
def _insert(prefix: str) -> Write:
    names = (*_INSERT_COLUMNS, "created_at")
    return insert(_NOTICES).values({name: param(prefix, name) for name in names})


@functools.cache
def _update_status(prefix: str, *, sent: bool) -> Write:
    values = {"status": param(prefix, "status")}
    if sent:
        values["sent_at"] = param(prefix, "sent_at")
    return update(_NOTICES).where(_NOTICES.c.id == param(prefix, "id")).values(values)


def _update_sent(prefix: str) -> Write:
    return _update_status(prefix, sent=True)


def _update_unsent(prefix: str) -> Write:
    return _update_status(prefix, sent=False)


_FIND_LOCKING_ORDER = (
    select(
        _ORDERS.c.status.label("order_status"),
        _ORDERS.c.failure_reason,
        *_COLUMNS,
    )
    .select_from(
        _ORDERS.outerjoin(
            _NOTICES,
            (_NOTICES.c.order_id == _ORDERS.c.id) & (_NOTICES.c.type == bindparam("type")),
        )
    )
    .where(_ORDERS.c.id == bindparam("order_id"))
    # Only the order's row: PostgreSQL cannot lock the nullable side of an outer join.
    .with_for_update(of=_ORDERS)
)


async def find_with_order(
    session: AsyncSession, placed: Order, kind: NotificationType
) -> tuple[Order | None, Notification | None]:
    """The order as recorded, its row locked until commit (as ``orders.load``), and its
    notice of ``kind``: one read when the order is recorded (None, and the notice read
    alone, when it is not)."""
    values = {"order_id": placed.id, "type": kind.value}
    row = (await run(session, _FIND_LOCKING_ORDER, values)).one_or_none()
    if row is None:
        return None, await find(session, placed.id, kind)
    order = orders.as_recorded(placed, row.order_status, row.failure_reason)
    return order, None if row.id is None else _to_domain(row)


async def find(session: AsyncSession, order_id: str, kind: NotificationType) -> Notification | None:
    """The order's notice of ``kind``, if one was recorded."""
    row = (await run(session, _FIND, {"order_id": order_id, "type": kind.value})).one_or_none()
    return None if row is None else _to_domain(row)


async def load(session: AsyncSession, notification_id: str) -> Notification | None:
    """The notice, its row locked until commit: two deliveries record one after the other."""
    row = (await run(session, _LOAD, {"id": notification_id})).one_or_none()
    return None if row is None else _to_domain(row)


def add(batch: Batch, notice: Notification, *, recipient_id: str, channel: str) -> None:
    """Insert the notice; ``recipient_id`` is the customer's id, or the admin's address for
    an operator alert (which names no customer)."""
    row = {
        "id": notice.id,
        "order_id": notice.order_id or notice.id,
        "customer_id": recipient_id,
        "type": notice.type.value,
        "status": notice.status.value,
        "channel": channel,
        "content": notice.content,
        "created_at": utc_now(),
    }
    batch.add(Bound(_insert, row))


def update_status(batch: Batch, notice: Notification) -> None:
    """Write the status the domain moved the notice to (and when it was sent)."""
    values: dict[str, object] = {"id": notice.id, "status": notice.status.value}
    if notice.status is NotificationStatus.SENT:
        values["sent_at"] = utc_now()
        batch.add(Bound(_update_sent, values))
    else:
        batch.add(Bound(_update_unsent, values))


def _record_sent() -> Select[Any]:
    sources = [status.value for status in notification_sources(NotificationStatus.SENT)]
    sent = (
        update(_NOTICES)
        .where(_NOTICES.c.id == bindparam("b_id"), _NOTICES.c.status.in_(sources))
        .values(status=NotificationStatus.SENT.value, sent_at=bindparam("b_now"))
        .returning(_NOTICES.c.id)
        .cte("sent")
    )
    appended = insert_per_row(sent).returning(literal_column("1")).cte("appended")
    # Read on the statement's snapshot, from before the UPDATE: tells "no such notice"
    # from "already SENT" when nothing was updated.
    before = select(_NOTICES.c.status).where(_NOTICES.c.id == bindparam("b_id"))
    return select(
        select(func.count()).select_from(appended).scalar_subquery().label("appended"),
        before.scalar_subquery().label("status"),
    )


_RECORD_SENT = _record_sent()


async def record_sent(session: AsyncSession, notification_id: str, sent: NotificationSent) -> bool:
    """PostgreSQL: mark the notice SENT with its event ``sent`` in one statement, if its
    stored status may still move there (the domain's transition table names which);
    False when it could not (already SENT). The UPDATE takes the row's lock and re-reads
    the row after a concurrent writer commits, so two deliveries record one
    NotificationSent. LookupError when no such notice is stored."""
    now = utc_now()
    values = {"b_id": notification_id, "b_now": now, **event_values(Pending(sent, now))}
    row = (await run(session, _RECORD_SENT, values)).one()
    if row.status is None:
        raise LookupError(f"notification {notification_id} vanished")
    return bool(row.appended)


def _to_domain(row: Row[Any]) -> Notification:
    kind = NotificationType(row.type)
    operator = kind is NotificationType.LOW_STOCK_ALERT
    return Notification(
        id=row.id,
        order_id=None if operator else row.order_id,
        customer_id=None if operator else row.customer_id,
        type=kind,
        status=NotificationStatus(row.status),
        content=row.content,
    )
