"""Payments as stored: one row per order (UNIQUE order_id and idempotency key), the
activity's record of what the gateway answered, so a retry answers from it.

Writers lock the order's row first (``load_for_charge(lock=True)``, and the other payment
activities through the order), so the attempts of one order take turns on its payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Money, OrderStatus, Payment, PaymentStatus
from persistence.batch import Batch, run
from persistence.tables import OrderRow, PaymentRow

__all__ = ["Charged", "ToCharge", "add", "idempotency_key", "load_for_charge"]

_ORDERS = OrderRow.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped
_PAYMENTS = PaymentRow.__table__  # type: ignore[attr-defined]


def idempotency_key(order_id: str) -> str:
    return f"order-{order_id}"


@dataclass(frozen=True)
class Charged:
    """A recorded payment and the gateway's reference for it."""

    payment: Payment
    gateway_reference: str | None


@dataclass(frozen=True)
class ToCharge:
    """What a charge needs to know: the order's status and total (None: not recorded) and
    the payment an earlier attempt recorded (None: none yet)."""

    order_status: OrderStatus | None
    order_total: Money | None
    recorded: Charged | None


async def load_for_charge(session: AsyncSession, order_id: str, *, lock: bool = False) -> ToCharge:
    """The order and its payment in one read; ``lock`` holds the order's row until commit."""
    payment = _PAYMENTS.c
    order = _ORDERS.c
    statement = (
        select(
            order.status.label("order_status"),
            order.total_amount,
            order.currency.label("order_currency"),
            payment.id,
            payment.amount,
            payment.currency,
            payment.status,
            payment.method,
            payment.created_at,
            payment.failure_reason,
            payment.gateway_reference,
        )
        .select_from(_ORDERS.outerjoin(_PAYMENTS, payment.order_id == order.id))
        .where(order.id == order_id)
    )
    if lock:
        # Only the order's row: PostgreSQL cannot lock the nullable side of an outer join.
        statement = statement.with_for_update(of=_ORDERS)
    row = (await run(session, statement)).one_or_none()
    if row is None:
        # No order row: a payment recorded for it anyway (never by these activities) counts.
        lone = (
            await run(
                session,
                select(
                    payment.id,
                    payment.amount,
                    payment.currency,
                    payment.status,
                    payment.method,
                    payment.created_at,
                    payment.failure_reason,
                    payment.gateway_reference,
                ).where(payment.order_id == order_id),
            )
        ).one_or_none()
        return ToCharge(None, None, None if lone is None else _charged(order_id, lone))
    return ToCharge(
        OrderStatus(row.order_status),
        Money(row.total_amount, row.order_currency),
        None if row.id is None else _charged(order_id, row),
    )


def _charged(order_id: str, row: Row[Any]) -> Charged:
    payment = Payment(
        id=row.id,
        order_id=order_id,
        amount=Money(row.amount, row.currency),
        status=PaymentStatus(row.status),
        method=row.method,
        timestamp=row.created_at,
        failure_reason=row.failure_reason,
    )
    return Charged(payment, row.gateway_reference)


def add(batch: Batch, payment: Payment, *, gateway_reference: str | None) -> None:
    """Insert the payment as the domain has it now."""
    batch.add(
        insert(_PAYMENTS).values(
            id=payment.id,
            order_id=payment.order_id,
            amount=payment.amount.amount,
            currency=payment.amount.currency,
            status=payment.status.value,
            method=payment.method,
            idempotency_key=idempotency_key(payment.order_id),
            gateway_reference=gateway_reference,
            failure_reason=payment.failure_reason,
            created_at=payment.timestamp,
            updated_at=payment.timestamp,
        )
    )
