"""An order as the API shows it, built from the read model, the saga, or both."""

from __future__ import annotations

from datetime import datetime

from api.read_model import OrderRecord
from api.schemas import (
    NotificationPublic,
    OrderItemPublic,
    OrderPublic,
    OrderSummary,
    PaymentPublic,
)
from messages.saga import OrderSnapshot, SagaStatus
from models.order_status import OrderStatus, is_terminal
from persistence.payments import abandoned
from persistence.tables import OrderRow

# How far along the lifecycle a status is; every terminal status is as far as it goes.
# NEEDS_ATTENTION ranks above every running status: the saga parked the order whatever
# step the read model last recorded (it may not have been able to record the parking).
_PROGRESS = {
    OrderStatus.PENDING: 0,
    OrderStatus.RESERVED: 1,
    OrderStatus.PAYMENT_PENDING: 2,
    OrderStatus.PAID: 3,
    OrderStatus.NEEDS_ATTENTION: 4,
}


def progress(status: OrderStatus) -> int:
    return 5 if is_terminal(status) else _PROGRESS[status]


def parse_status(value: str | None) -> OrderStatus | None:
    try:
        return OrderStatus(value) if value is not None else None
    except ValueError:
        return None


def from_record(record: OrderRecord) -> OrderPublic:
    order, payment = record.order, record.payment
    return OrderPublic(
        order_id=order.id,
        customer_id=order.customer_id,
        status=OrderStatus(order.status),
        currency=order.currency,
        total_amount=order.total_amount,
        items=[
            OrderItemPublic(
                product_id=item.product_id,
                quantity=item.quantity,
                unit_price=item.unit_price,
                line_total=item.unit_price * item.quantity,
            )
            for item in record.items
        ],
        # The compensation's fence against a late charge is no payment: none was made.
        payment=None
        if payment is None or abandoned(payment.status, payment.gateway_reference)
        else PaymentPublic(
            payment_id=payment.id,
            status=payment.status,
            method=payment.method,
            amount=payment.amount,
            currency=payment.currency,
            failure_reason=payment.failure_reason,
            refunded_at=payment.refunded_at,
        ),
        notifications=[
            NotificationPublic(
                notification_id=notice.id,
                type=notice.type,
                status=notice.status,
                channel=notice.channel,
                sent_at=notice.sent_at,
            )
            for notice in record.notifications
        ],
        failure_reason=order.failure_reason,
        created_at=order.created_at,
        source="read_model",
    )


def from_snapshot(order: OrderSnapshot, status: OrderStatus, created_at: datetime) -> OrderPublic:
    """The order as the saga carries it: before (or instead of) its record."""
    return OrderPublic(
        order_id=order.order_id,
        customer_id=order.customer_id,
        status=status,
        currency=order.currency,
        total_amount=order.total,
        items=[
            OrderItemPublic(
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                line_total=line.unit_price * line.quantity,
            )
            for line in order.lines
        ],
        created_at=created_at,
        source="workflow",
    )


def with_live_status(view: OrderPublic, live: SagaStatus | None) -> OrderPublic:
    """``view`` updated by the saga's own status where the saga is further along."""
    if live is None:
        return view
    update: dict[str, object] = {}
    live_status = parse_status(live.status)
    if live_status is not None and progress(live_status) > progress(view.status):
        update.update(status=live_status, source="workflow")
        if is_terminal(live_status) and live.last_error and view.failure_reason is None:
            update["failure_reason"] = live.last_error
    if live.cancel_reason is not None and not is_terminal(view.status):
        update["cancel_reason"] = live.cancel_reason
    if live.status == OrderStatus.PAYMENT_PENDING and live.next_action is not None:
        update["next_action"] = live.next_action
    return view.model_copy(update=update) if update else view


def summary(order: OrderRow) -> OrderSummary:
    return OrderSummary(
        order_id=order.id,
        customer_id=order.customer_id,
        status=OrderStatus(order.status),
        total_amount=order.total_amount,
        currency=order.currency,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )
