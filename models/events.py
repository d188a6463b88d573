"""Domain events: facts, named in the past tense, that the outbox relays to Kafka.

An event holds only its payload. The envelope (event id, occurred-at, version per
aggregate) is stamped by whoever stores it, so the domain needs no clock or id source.

Fields are JSON-friendly: str, int, Decimal (to be serialised as a string, never a float),
None, and tuples of EventItem. Fields are keyword-only so new ones can be added, with
defaults, anywhere without breaking callers; adding a required field or changing a
meaning bumps ``schema_version``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from models.errors import UnknownEventTypeError
from models.event_base import AggregateType, DomainEvent, EventItem

__all__ = [
    "EVENT_TYPES",
    "AggregateType",
    "DomainEvent",
    "EventItem",
    "InventoryReleased",
    "InventoryReservationFailed",
    "InventoryReserved",
    "InventoryRestocked",
    "InventoryReturned",
    "LowStockDetected",
    "NotificationSent",
    "OrderCancelled",
    "OrderConfirmed",
    "OrderCreated",
    "OrderNeedsAttention",
    "OrderRefunded",
    "OrderRejected",
    "OrderRetried",
    "PaymentActionRequired",
    "PaymentFailed",
    "PaymentProcessed",
    "PaymentRefunded",
    "PaymentVoided",
    "event_class",
    "event_type_of",
]


@dataclass(frozen=True, kw_only=True)
class _AboutAnOrder(DomainEvent):
    # Everything that happens to one order, whichever domain records it, shares the
    # order's id as aggregate id and Kafka key, so the order's timeline stays in order.
    order_id: str

    @property
    def aggregate_id(self) -> str:
        return self.order_id


@dataclass(frozen=True, kw_only=True)
class _AboutAProduct(DomainEvent):
    product_id: str

    @property
    def aggregate_id(self) -> str:
        return self.product_id


@dataclass(frozen=True, kw_only=True)
class OrderCreated(_AboutAnOrder):
    aggregate_type = "order"
    customer_id: str
    items: tuple[EventItem, ...]
    total_amount: Decimal
    currency: str


@dataclass(frozen=True, kw_only=True)
class OrderConfirmed(_AboutAnOrder):
    aggregate_type = "order"


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(_AboutAnOrder):
    aggregate_type = "order"
    reason: str


@dataclass(frozen=True, kw_only=True)
class OrderRejected(_AboutAnOrder):
    aggregate_type = "order"
    reason: str


@dataclass(frozen=True, kw_only=True)
class OrderNeedsAttention(_AboutAnOrder):
    """The saga parked the order: ``step`` ran out of its budget or failed unexpectedly."""

    aggregate_type = "order"
    step: str
    reason: str
    # Who decided: "system" here; operators decide what happens next (OrderRetried, …).
    actor: str = "system"


@dataclass(frozen=True, kw_only=True)
class OrderRetried(_AboutAnOrder):
    """An operator sent a parked order back to ``step``, with a fresh retry budget."""

    aggregate_type = "order"
    step: str
    actor: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class OrderRefunded(_AboutAnOrder):
    """An operator refunded a confirmed order after the sale: ``amount`` went back to the
    customer and ``items`` (all the order's lines, or the returned ones) go back to stock."""

    aggregate_type = "order"
    amount: Decimal
    currency: str
    items: tuple[EventItem, ...]
    reason: str
    actor: str
    # The provider's reference of this refund.
    refund_reference: str | None = None


@dataclass(frozen=True, kw_only=True)
class InventoryReturned(_AboutAnOrder):
    """Returned goods of a refunded order went back to stock."""

    aggregate_type = "inventory"
    items: tuple[EventItem, ...]


@dataclass(frozen=True, kw_only=True)
class InventoryReserved(_AboutAnOrder):
    aggregate_type = "inventory"
    items: tuple[EventItem, ...]


@dataclass(frozen=True, kw_only=True)
class InventoryReservationFailed(_AboutAnOrder):
    aggregate_type = "inventory"
    product_id: str
    requested: int
    available: int


@dataclass(frozen=True, kw_only=True)
class InventoryReleased(_AboutAnOrder):
    aggregate_type = "inventory"
    items: tuple[EventItem, ...]


@dataclass(frozen=True, kw_only=True)
class InventoryRestocked(_AboutAProduct):
    aggregate_type = "inventory"
    quantity_added: int
    quantity_on_hand: int
    # The restock workflow run that delivered it (None for a manual restock): applies once.
    restock_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class LowStockDetected(_AboutAProduct):
    aggregate_type = "inventory"
    available: int
    reorder_point: int
    # What the reorder policy suggests buying; 0 when the product is not reordered.
    reorder_quantity: int = 0


@dataclass(frozen=True, kw_only=True)
class PaymentProcessed(_AboutAnOrder):
    """Money was authorised or captured; ``status`` says which (a PaymentStatus value)."""

    aggregate_type = "payment"
    payment_id: str
    amount: Decimal
    currency: str
    status: str


@dataclass(frozen=True, kw_only=True)
class PaymentActionRequired(_AboutAnOrder):
    """The provider waits for the customer (3-D Secure, a wallet, a bank redirect)."""

    aggregate_type = "payment"
    payment_id: str
    # Where the customer completes the payment: a provider URL, or only the kind of a
    # client-side step (e.g. "stripe-js"); never a secret, never personal data.
    next_action: str | None = None


@dataclass(frozen=True, kw_only=True)
class PaymentFailed(_AboutAnOrder):
    aggregate_type = "payment"
    reason: str
    # None when the gateway refused before a payment was recorded.
    payment_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class PaymentRefunded(_AboutAnOrder):
    aggregate_type = "payment"
    payment_id: str
    amount: Decimal
    currency: str


@dataclass(frozen=True, kw_only=True)
class PaymentVoided(_AboutAnOrder):
    """An authorisation was released before capture: no money moved."""

    aggregate_type = "payment"
    payment_id: str
    amount: Decimal
    currency: str


@dataclass(frozen=True, kw_only=True)
class NotificationSent(DomainEvent):
    aggregate_type = "notification"
    notification_id: str
    # None for operator alerts (low stock), which concern no order or customer.
    order_id: str | None
    customer_id: str | None
    notification_type: str
    channel: str

    @property
    def aggregate_id(self) -> str:
        return self.order_id if self.order_id is not None else self.notification_id


_ALL: Final = (
    OrderCreated,
    OrderConfirmed,
    OrderCancelled,
    OrderRejected,
    OrderNeedsAttention,
    OrderRetried,
    OrderRefunded,
    InventoryReserved,
    InventoryReturned,
    InventoryReservationFailed,
    InventoryReleased,
    InventoryRestocked,
    LowStockDetected,
    PaymentActionRequired,
    PaymentProcessed,
    PaymentFailed,
    PaymentRefunded,
    PaymentVoided,
    NotificationSent,
)

# Read-only: a registry that a caller could extend at runtime would make the event
# types a process accepts depend on import order.
EVENT_TYPES: Final[MappingProxyType[str, type[DomainEvent]]] = MappingProxyType(
    {cls.__name__: cls for cls in _ALL}
)


def event_type_of(event: DomainEvent) -> str:
    """The stored ``event_type`` of ``event``: its class name."""
    name = type(event).__name__
    if EVENT_TYPES.get(name) is not type(event):
        raise UnknownEventTypeError(f"{type(event).__module__}.{type(event).__qualname__}")
    return name


def event_class(event_type: str) -> type[DomainEvent]:
    """The class stored under ``event_type``, for reading events back."""
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise UnknownEventTypeError(event_type) from None
