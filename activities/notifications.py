"""Notification activities: conclude the order and tell the customer; alert stock admins.

Two transactions around the send. The first commits the order's outcome together with the
notification record (PENDING), so the outcome stands even while the mail server is down;
the second marks the notice SENT with NotificationSent. A crash between the send and the
second commit sends again on retry, with the same Message-ID (the notification id) so the
receiver can drop the duplicate: delivery is at least once, recording exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from activities.metrics import count_order_concluded
from activities.recording import business_error, place, record_order, stable_id
from gateways.notification_channels import DeliveryRefusedError, NotificationChannel
from messages import contract, errors
from messages.activities import NotificationResult, NotifyCustomerInput
from messages.contract import implements
from messages.restock import AlertLowStockInput
from models import (
    DomainEvent,
    IllegalTransitionError,
    Money,
    Notification,
    NotificationStatus,
    NotificationType,
    OrderStatus,
    UnknownProductError,
    render_notification,
)
from models.actor import SYSTEM
from persistence.event_store import append_events
from persistence.tables import NotificationRow, OrderRow, utc_now
from telemetry.context import order_context

__all__ = ["ILLEGAL_TRANSITION", "UNKNOWN_NOTIFICATION_TYPE", "NotificationActivities"]

log = logging.getLogger(__name__)

ILLEGAL_TRANSITION = errors.ILLEGAL_TRANSITION
UNKNOWN_NOTIFICATION_TYPE = errors.UNKNOWN_NOTIFICATION_TYPE

_NO_ORDER = "-"

# A change of a stored notification's status, returning the event to record with it.
_Change = Callable[[Notification], DomainEvent | None]


class NotificationActivities(contract.Notifications):
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], channel: NotificationChannel
    ) -> None:
        self._sessions = sessions
        self._channel = channel

    @implements(contract.Notifications.notify_customer)
    async def notify_customer(self, arg: NotifyCustomerInput) -> NotificationResult:
        """Commit the order's outcome with the notice, then send the notice once per
        (order, type). Mail server down: the outcome stays committed and the activity
        raises to be retried; an address refused for good: FAILED, not raised."""
        try:
            kind = NotificationType(arg.notification_type)
        except ValueError as unknown:
            raise business_error(str(unknown), UNKNOWN_NOTIFICATION_TYPE) from unknown
        with order_context(arg.order.order_id):
            async with self._sessions() as session, session.begin():
                row, concluded = await self._conclude(session, arg, kind)
            if concluded is not None:
                count_order_concluded(concluded, arg.order.placed_at)
            status = await self._deliver(row, arg.order.customer_email)
            return NotificationResult(
                order_id=arg.order.order_id, notification_id=row.id, status=status
            )

    async def _conclude(
        self, session: AsyncSession, arg: NotifyCustomerInput, kind: NotificationType
    ) -> tuple[NotificationRow, OrderStatus | None]:
        """The notice's row, and the terminal status this call moved the order to (None
        when an earlier attempt already did, or nothing was to be concluded)."""
        snapshot = arg.order
        try:
            # Locks the order: attempts for one order take turns from here.
            order_row: OrderRow | None = await record_order(session, snapshot)
        except UnknownProductError as unknown:
            # Never recordable (its items must name catalog products); still tell the customer.
            log.warning("order not recorded (%s); notifying anyway", unknown)
            order_row = None
        existing = (
            await session.exec(
                select(NotificationRow).where(
                    col(NotificationRow.order_id) == snapshot.order_id,
                    col(NotificationRow.type) == kind.value,
                )
            )
        ).first()
        if existing is not None:
            return existing, None
        events: list[DomainEvent] = []
        concluded: OrderStatus | None = None
        if order_row is not None and arg.conclude_status is not None:
            target = OrderStatus(arg.conclude_status)
            if order_row.status != target:
                concluded = target
            events += self._apply(order_row, arg, target)
        total = None
        if kind is NotificationType.ORDER_CONFIRMED:
            total = Money(snapshot.total, snapshot.currency)
        elif kind is NotificationType.ORDER_REFUNDED and arg.refund_amount is not None:
            total = Money(arg.refund_amount, snapshot.currency)
        text = render_notification(kind, snapshot.order_id, reason=arg.reason, total=total)
        row = NotificationRow(
            id=stable_id("notification", snapshot.order_id, kind.value),
            order_id=snapshot.order_id,
            customer_id=snapshot.customer_id,
            type=kind.value,
            status=NotificationStatus.PENDING.value,
            channel=self._channel.name,
            content=f"{text.subject}\n\n{text.body}",
        )
        session.add(row)
        await session.flush()
        await append_events(session, events, occurred_at=utc_now(), actor=arg.actor or SYSTEM)
        return row, concluded

    def _apply(
        self, row: OrderRow, arg: NotifyCustomerInput, target: OrderStatus
    ) -> list[DomainEvent]:
        """Move the order to ``target`` through the aggregate, which names the event."""
        if row.status == target:
            return []
        order, _ = place(arg.order)
        order.status = OrderStatus(row.status)
        reason = arg.reason or f"order {target.value.lower()}"
        try:
            if target is OrderStatus.CONFIRMED:
                events: list[DomainEvent] = [order.confirm()]
            elif target is OrderStatus.REJECTED:
                events = [order.reject(reason)]
            elif target is OrderStatus.CANCELLED:
                events = [order.cancel(reason)]
            elif target is OrderStatus.PAYMENT_FAILED:
                # Its event, PaymentFailed, was recorded by the payment that failed.
                order.fail_payment(reason)
                events = []
            else:
                raise business_error(f"{target} does not conclude an order", ILLEGAL_TRANSITION)
        except IllegalTransitionError as illegal:
            raise business_error(f"order {row.id}: {illegal}", ILLEGAL_TRANSITION) from illegal
        row.status = order.status.value
        row.failure_reason = order.reason
        return events

    @implements(contract.Notifications.alert_low_stock)
    async def alert_low_stock(self, arg: AlertLowStockInput) -> NotificationResult:
        """Tell the stock admins a product runs low, once per restock run."""
        low = arg.low_stock
        # Operator alerts belong to no order; the id derived from the restock run stands in
        # for the order id, so UNIQUE(order_id, type) allows one alert per run.
        alert_id = stable_id("low-stock-alert", arg.restock_id)
        async with self._sessions() as session, session.begin():
            row = await session.get(NotificationRow, alert_id, with_for_update=True)
            if row is None:
                text = render_notification(
                    NotificationType.LOW_STOCK_ALERT,
                    product_id=low.product_id,
                    available=low.available,
                    reorder_point=low.reorder_point,
                )
                row = NotificationRow(
                    id=alert_id,
                    order_id=alert_id,
                    customer_id=arg.admin_email[:128],
                    type=NotificationType.LOW_STOCK_ALERT.value,
                    status=NotificationStatus.PENDING.value,
                    channel=self._channel.name,
                    content=f"{text.subject}\n\n{text.body}",
                )
                session.add(row)
        status = await self._deliver(row, arg.admin_email)
        return NotificationResult(order_id=_NO_ORDER, notification_id=row.id, status=status)

    async def _deliver(self, row: NotificationRow, to: str) -> str:
        """Send unless already SENT, then record SENT with NotificationSent; the status."""
        if row.status == NotificationStatus.SENT:
            return row.status
        subject, _, body = row.content.partition("\n\n")
        try:
            await self._channel.send(row.id, to, subject, body)
        except DeliveryRefusedError as refused:
            why = str(refused)
            log.warning("notification %s refused for good: %s", row.id, why)
            await self._record(row.id, lambda notice: notice.mark_failed(why))
            return NotificationStatus.FAILED.value
        except Exception as failure:
            # Visible to operators meanwhile; the retry may still send it (FAILED → SENT).
            reason = f"{type(failure).__name__}: {failure}"
            try:
                await self._record(row.id, lambda notice: notice.mark_failed(reason))
            except Exception:
                log.exception("could not record the failed delivery of %s", row.id)
            raise
        channel = self._channel.name
        await self._record(row.id, lambda notice: notice.mark_sent(channel))
        return NotificationStatus.SENT.value

    async def _record(self, notification_id: str, change: _Change) -> None:
        """Apply ``change`` to the stored notification under its lock, with its event."""
        async with self._sessions() as session, session.begin():
            row = await session.get(NotificationRow, notification_id, with_for_update=True)
            if row is None:
                raise LookupError(f"notification {notification_id} vanished")
            notice = _to_domain(row)
            try:
                event = change(notice)
            except IllegalTransitionError:
                return  # already SENT, or already FAILED: nothing new to record
            row.status = notice.status.value
            if notice.status is NotificationStatus.SENT:
                row.sent_at = utc_now()
            if event is not None:
                await append_events(session, [event], occurred_at=utc_now())


def _to_domain(row: NotificationRow) -> Notification:
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
