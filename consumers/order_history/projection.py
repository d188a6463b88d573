"""Which events change an order's history row, and how: pure, no I/O.

Statuses follow the domain's own transition table (``models.order_status``): an event
moves the row to the status it implies only when that status can come later than the
current one, so reading ``PaymentProcessed`` (payment topic) before ``InventoryReserved``
(inventory topic) ends in the same row as reading them the other way round.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache

from models.order_status import OrderStatus, allowed_transitions
from outbox.cloudevents import ReceivedEvent
from persistence.order_history import HistoryChange, StatusOrder

STATUS_AFTER: dict[str, OrderStatus] = {
    "OrderCreated": OrderStatus.PENDING,
    "InventoryReserved": OrderStatus.RESERVED,
    "PaymentProcessed": OrderStatus.PAID,
    "OrderConfirmed": OrderStatus.CONFIRMED,
    "OrderRejected": OrderStatus.REJECTED,
    "PaymentFailed": OrderStatus.PAYMENT_FAILED,
    "OrderCancelled": OrderStatus.CANCELLED,
}


@cache
def later_statuses() -> StatusOrder:
    """Each status -> every status reachable from it by one or more transitions."""
    reachable: StatusOrder = {}
    for start in OrderStatus:
        seen: set[str] = set()
        frontier = list(allowed_transitions(start))
        while frontier:
            status = frontier.pop()
            if status not in seen:
                seen.add(status)
                frontier.extend(allowed_transitions(status))
        reachable[start.value] = frozenset(seen)
    return reachable


def change_for(event: ReceivedEvent) -> HistoryChange | None:
    """What ``event`` says about its order's row; ``None`` when it concerns no order
    (stock events keyed by product, operator alerts)."""
    order_id = event.data.get("order_id")
    if not isinstance(order_id, str) or not order_id:
        return None
    created = event.event_type == "OrderCreated"
    status = STATUS_AFTER.get(event.event_type)
    customer = event.data.get("customer_id") if created else None
    return HistoryChange(
        order_id=order_id,
        event_id=event.event_id,
        event_type=event.event_type,
        occurred_at=event.time or datetime.now(UTC),
        status=status.value if status is not None else None,
        customer_id=customer if isinstance(customer, str) else None,
        total_amount=_money(event.data.get("total_amount")) if created else None,
        currency=str(event.data.get("currency")) if created else None,
        placed=created,
    )


def _money(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None
