"""Notifications: what the customer (or, for low stock, an operator) is told, and
whether it was delivered."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, assert_never

from models._transitions import TransitionTable
from models._validate import require_text
from models.errors import InvalidNotificationError
from models.events import NotificationSent
from models.money import Money

__all__ = [
    "Notification",
    "NotificationStatus",
    "NotificationText",
    "NotificationType",
    "render_notification",
]


class NotificationType(StrEnum):
    ORDER_CONFIRMED = "ORDER_CONFIRMED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    ORDER_REJECTED = "ORDER_REJECTED"
    ORDER_REFUNDED = "ORDER_REFUNDED"
    LOW_STOCK_ALERT = "LOW_STOCK_ALERT"


class NotificationStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


# FAILED → SENT: a delivery given up on can still go out when an operator retries it.
_NOTIFICATION = TransitionTable(
    "notification",
    NotificationStatus,
    {
        NotificationStatus.PENDING: (NotificationStatus.SENT, NotificationStatus.FAILED),
        NotificationStatus.FAILED: (NotificationStatus.SENT,),
        NotificationStatus.SENT: (),
    },
)


def notification_sources(target: NotificationStatus) -> tuple[NotificationStatus, ...]:
    """The statuses a notification may move to ``target`` from: a store that applies the
    move in one conditional write names them in its WHERE."""
    return _NOTIFICATION.sources(target)


_OPERATOR_TYPES = frozenset({NotificationType.LOW_STOCK_ALERT})


@dataclass(eq=False, kw_only=True)
class Notification:
    """One message to one recipient. Customer notifications name the order and the
    customer; operator alerts (low stock) concern neither, so leave both None."""

    id: str
    order_id: str | None
    customer_id: str | None
    type: NotificationType
    status: NotificationStatus = NotificationStatus.PENDING
    content: str
    failure_reason: str | None = None

    def __post_init__(self) -> None:
        require_text(self.id, "notification id", InvalidNotificationError)
        self.type = NotificationType(self.type)
        self.status = NotificationStatus(self.status)
        if self.type not in _OPERATOR_TYPES:
            for what, value in (("order id", self.order_id), ("customer id", self.customer_id)):
                if value is None:
                    raise InvalidNotificationError(f"{self.type} needs {what}")
                require_text(value, what, InvalidNotificationError)
        require_text(self.content, "notification content", InvalidNotificationError)

    def mark_sent(self, channel: str) -> NotificationSent:
        """Delivered over ``channel`` (``"email"``, ``"log"``, ...)."""
        require_text(channel, "channel", InvalidNotificationError)
        self.status = _NOTIFICATION.check(self.status, NotificationStatus.SENT)
        self.failure_reason = None
        return NotificationSent(
            notification_id=self.id,
            order_id=self.order_id,
            customer_id=self.customer_id,
            notification_type=self.type.value,
            channel=channel,
        )

    def mark_failed(self, reason: str) -> None:
        # No event: nothing happened that another service could act on, and a retry may
        # still send it.
        require_text(reason, "reason", InvalidNotificationError)
        self.status = _NOTIFICATION.check(self.status, NotificationStatus.FAILED)
        self.failure_reason = reason

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Notification) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


class NotificationText(NamedTuple):
    subject: str
    body: str


def _need(value: object | None, what: str, kind: NotificationType) -> object:
    if value is None:
        raise InvalidNotificationError(f"{kind} needs {what}")
    return value


def render_notification(
    notification_type: NotificationType,
    order_id: str | None = None,
    *,
    reason: str | None = None,
    total: Money | None = None,
    product_id: str | None = None,
    available: int | None = None,
    reorder_point: int | None = None,
) -> NotificationText:
    """The subject and plain-text body for ``notification_type``.

    Order notifications need ``order_id``; ``reason`` and ``total`` are said when given.
    A low-stock alert needs ``product_id``, ``available`` and ``reorder_point``.
    """
    kind = NotificationType(notification_type)
    because = f": {reason}" if reason else ""
    if kind is NotificationType.LOW_STOCK_ALERT:
        product = _need(product_id, "a product id", kind)
        count = _need(available, "the available count", kind)
        point = _need(reorder_point, "the reorder point", kind)
        return NotificationText(
            f"Low stock: {product}",
            f"Product {product} has {count} available, below its reorder point of {point}.",
        )
    order = _need(order_id, "an order id", kind)
    if kind is NotificationType.ORDER_CONFIRMED:
        paid = f" We have taken payment of {total}." if total is not None else ""
        return NotificationText(
            f"Order {order} confirmed",
            f"Thank you for your order. Order {order} is confirmed.{paid}",
        )
    if kind is NotificationType.PAYMENT_FAILED:
        return NotificationText(
            f"Payment for order {order} failed",
            f"We could not take payment for order {order}{because}. You have not been "
            "charged. Please place the order again with another payment method.",
        )
    if kind is NotificationType.ORDER_REJECTED:
        return NotificationText(
            f"Order {order} could not be accepted",
            f"We could not accept order {order}{because}. You have not been charged.",
        )
    if kind is NotificationType.ORDER_CANCELLED:
        return NotificationText(
            f"Order {order} cancelled",
            f"Order {order} has been cancelled{because}. "
            "Any payment taken for it will be refunded in full.",
        )
    if kind is NotificationType.ORDER_REFUNDED:
        amount = f" of {total}" if total is not None else ""
        return NotificationText(
            f"Order {order} refunded",
            f"We have refunded{amount} for order {order}{because}. "
            "The money is on its way back to your payment method.",
        )
    assert_never(kind)
