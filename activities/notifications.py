"""Notification activities: conclude the order and tell the customer; alert stock admins.

``conclude_order`` is the saga's last step; ``notify_customer``, its name before, stays
registered for sagas whose history already scheduled it.

Two transactions around the send. The first commits the order's outcome together with the
notification record (PENDING), so the outcome stands even while the mail server is down;
the second marks the notice SENT with NotificationSent. A crash between the send and the
second commit sends again on retry, with the same Message-ID (the notification id) so the
receiver can drop the duplicate: delivery is at least once, recording exactly once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from activities.metrics import count_order_concluded
from activities.recording import business_error, place, place_new, stable_id
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
    NotificationSent,
    NotificationStatus,
    NotificationType,
    Order,
    OrderStatus,
    PaymentFailed,
    UnknownProductError,
    render_notification,
)
from models.actor import SYSTEM
from persistence import inventory, notifications, orders, recorded
from persistence.batch import Batch, is_postgres
from persistence.clock import utc_now
from persistence.unit import Conflict, Session, Sessions, transaction
from telemetry.context import order_context

__all__ = ["ILLEGAL_TRANSITION", "UNKNOWN_NOTIFICATION_TYPE", "NotificationActivities"]

log = logging.getLogger(__name__)

ILLEGAL_TRANSITION = errors.ILLEGAL_TRANSITION
UNKNOWN_NOTIFICATION_TYPE = errors.UNKNOWN_NOTIFICATION_TYPE

_NO_ORDER = "-"

# The endings that keep no stock (CONFIRMED keeps it: the goods are sold).
_GIVES_BACK_STOCK = frozenset(
    {OrderStatus.REJECTED, OrderStatus.PAYMENT_FAILED, OrderStatus.CANCELLED}
)

# A change of a stored notification's status, returning the event to record with it.
_Change = Callable[[Notification], DomainEvent | None]


class NotificationActivities(contract.Notifications):
    def __init__(self, sessions: Sessions, channel: NotificationChannel) -> None:
        self._sessions = sessions
        self._channel = channel

    @implements(contract.Notifications.conclude_order)
    async def conclude_order(self, arg: NotifyCustomerInput) -> NotificationResult:
        """Record the order's outcome (``conclude_status``) with the customer's notice,
        then send the notice once per (order, type). Mail server down: the outcome stays
        committed and the activity raises to be retried; an address refused for good:
        FAILED, not raised."""
        try:
            kind = NotificationType(arg.notification_type)
        except ValueError as unknown:
            raise business_error(str(unknown), UNKNOWN_NOTIFICATION_TYPE) from unknown
        with order_context(arg.order.order_id):
            try:
                async with transaction(self._sessions) as session:
                    notice, concluded = await self._conclude(session, arg, kind)
            except Conflict:
                # A twin attempt recorded the notice (or the order) while this one waited
                # on the order's lock, whose read sees the rows of when it began: read
                # again, and find the twin's record.
                async with transaction(self._sessions) as session:
                    notice, concluded = await self._conclude(session, arg, kind)
            if concluded is not None:
                count_order_concluded(concluded, arg.order.placed_at)
            status = await self._deliver(notice, arg.order.customer_email)
            return NotificationResult(
                order_id=arg.order.order_id, notification_id=notice.id, status=status
            )

    @implements(contract.Notifications.notify_customer)
    async def notify_customer(self, arg: NotifyCustomerInput) -> NotificationResult:
        """The name sagas started before ``conclude_order`` scheduled: the same step."""
        return await self.conclude_order(arg)

    async def _conclude(
        self, session: Session, arg: NotifyCustomerInput, kind: NotificationType
    ) -> tuple[Notification, OrderStatus | None]:
        """The notice, and the terminal status this call moved the order to (None when an
        earlier attempt already did, or nothing was to be concluded)."""
        snapshot = arg.order
        batch = Batch(session)
        placed, created = place(snapshot)
        # Locks the order: attempts for one order take turns from here.
        order, existing = await notifications.find_with_order(session, placed, kind)
        new = False
        if order is None:
            try:
                await place_new(session, batch, snapshot, placed, created)
                order, new = placed, True
            except UnknownProductError as unknown:
                # Never recordable (its items must name catalog products); still tell them.
                log.warning("order not recorded (%s); notifying anyway", unknown)
        concluded: OrderStatus | None = None
        if existing is None and order is not None and arg.conclude_status is not None:
            target = OrderStatus(arg.conclude_status)
            if order.status != target:
                concluded = target
                events = _decide(order, target, arg.reason or f"order {target.value.lower()}")
                if target is OrderStatus.PAYMENT_FAILED:
                    events += await _payment_failure_untold(session, order.id, order.reason)
                batch.add_events(events, utc_now(), actor=arg.actor or SYSTEM)
                if target in _GIVES_BACK_STOCK:
                    # The release compensation ran before this, but a reservation attempt the
                    # saga had given up on can still commit after it: whatever the order
                    # holds now goes back with its ending. Past this commit the order is
                    # final, and a later reservation is refused by the order's own rule.
                    await inventory.release_held(
                        session, batch, order.id, await inventory.holdings(session, order.id)
                    )
        if order is not None and (new or concluded is not None):
            orders.save(batch, order, new=new, placed_at=snapshot.placed_at)
        notice = existing or self._notice(arg, kind)
        if existing is None:
            notifications.add(
                batch, notice, recipient_id=snapshot.customer_id, channel=self._channel.name
            )
        await batch.send()
        return notice, concluded

    def _notice(self, arg: NotifyCustomerInput, kind: NotificationType) -> Notification:
        snapshot = arg.order
        total = None
        if kind is NotificationType.ORDER_CONFIRMED:
            total = Money(snapshot.total, snapshot.currency)
        elif kind is NotificationType.ORDER_REFUNDED and arg.refund_amount is not None:
            total = Money(arg.refund_amount, snapshot.currency)
        text = render_notification(kind, snapshot.order_id, reason=arg.reason, total=total)
        return Notification(
            id=stable_id("notification", snapshot.order_id, kind.value),
            order_id=snapshot.order_id,
            customer_id=snapshot.customer_id,
            type=kind,
            content=f"{text.subject}\n\n{text.body}",
        )

    @implements(contract.Notifications.alert_low_stock)
    async def alert_low_stock(self, arg: AlertLowStockInput) -> NotificationResult:
        """Tell the stock admins a product runs low, once per restock run."""
        low = arg.low_stock
        # Operator alerts belong to no order; the id derived from the restock run stands in
        # for the order id, so UNIQUE(order_id, type) allows one alert per run.
        alert_id = stable_id("low-stock-alert", arg.restock_id)
        async with transaction(self._sessions) as session:
            notice = await notifications.load(session, alert_id)
            if notice is None:
                text = render_notification(
                    NotificationType.LOW_STOCK_ALERT,
                    product_id=low.product_id,
                    available=low.available,
                    reorder_point=low.reorder_point,
                )
                notice = Notification(
                    id=alert_id,
                    order_id=None,
                    customer_id=None,
                    type=NotificationType.LOW_STOCK_ALERT,
                    content=f"{text.subject}\n\n{text.body}",
                )
                batch = Batch(session)
                notifications.add(
                    batch, notice, recipient_id=arg.admin_email[:128], channel=self._channel.name
                )
                await batch.send()
        status = await self._deliver(notice, arg.admin_email)
        return NotificationResult(order_id=_NO_ORDER, notification_id=notice.id, status=status)

    async def _deliver(self, notice: Notification, to: str) -> str:
        """Send unless already SENT, then record SENT with NotificationSent; the status."""
        if notice.status is NotificationStatus.SENT:
            return notice.status.value
        subject, _, body = notice.content.partition("\n\n")
        try:
            await self._channel.send(notice.id, to, subject, body)
        except DeliveryRefusedError as refused:
            why = str(refused)
            log.warning("notification %s refused for good: %s", notice.id, why)
            await self._record(notice.id, lambda stored: stored.mark_failed(why))
            return NotificationStatus.FAILED.value
        except Exception as failure:
            # Visible to operators meanwhile; the retry may still send it (FAILED → SENT).
            reason = f"{type(failure).__name__}: {failure}"
            try:
                await self._record(notice.id, lambda stored: stored.mark_failed(reason))
            except Exception:
                log.exception("could not record the failed delivery of %s", notice.id)
            raise
        channel = self._channel.name
        # The domain decides on the notice as this attempt knows it (PENDING or FAILED);
        # PostgreSQL applies it only if the stored row may still move to SENT.
        sent = dataclasses.replace(notice).mark_sent(channel)
        await self._record(notice.id, lambda stored: stored.mark_sent(channel), sent=sent)
        return NotificationStatus.SENT.value

    async def _record(
        self, notification_id: str, change: _Change, *, sent: NotificationSent | None = None
    ) -> None:
        """Apply ``change`` to the stored notification under its lock, with its event;
        on PostgreSQL a SENT record (``sent``: its event) is one conditional write."""
        async with transaction(self._sessions) as session:
            if sent is not None and is_postgres(session):
                await notifications.record_sent(session, sent.notification_id, sent)
                return
            notice = await notifications.load(session, notification_id)
            if notice is None:
                raise LookupError(f"notification {notification_id} vanished")
            try:
                event = change(notice)
            except IllegalTransitionError:
                return  # already SENT, or already FAILED: nothing new to record
            batch = Batch(session)
            notifications.update_status(batch, notice)
            if event is not None:
                batch.add_events([event], utc_now())
            await batch.send()


async def _payment_failure_untold(
    session: Session, order_id: str, reason: str | None
) -> list[DomainEvent]:
    """PAYMENT_FAILED's terminal event is the payment's PaymentFailed, recorded where the
    provider declined. A payment that never got that far (the provider out past the budget,
    the customer who never acted, a cancelled intent) has none: it is recorded here, so
    every ended order has exactly one terminal event (docs/invariants.md)."""
    if await recorded.find_event(session, order_id, "PaymentFailed") is not None:
        return []
    return [PaymentFailed(order_id=order_id, reason=reason or "the payment was not completed")]


def _decide(order: Order, target: OrderStatus, reason: str) -> list[DomainEvent]:
    """Move the order to ``target`` through the aggregate, which names the event."""
    try:
        event = order.conclude(target, reason)
    except IllegalTransitionError as illegal:
        raise business_error(f"order {order.id}: {illegal}", ILLEGAL_TRANSITION) from illegal
    return [] if event is None else [event]
