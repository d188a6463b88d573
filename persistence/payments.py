"""Payments as stored: one row per order (UNIQUE order_id and idempotency key), the
activity's record of what the gateway answered, so a retry answers from it.

Writers lock the order's row first (``load_for_charge(lock=True)``, and the other payment
activities through the order), so the attempts of one order take turns on its payment.

A VOIDED payment that names no charge at the provider is the fence a compensation leaves
when it found nothing to undo (``abandoned``): a charge attempt still running reads it
where it reads any earlier attempt's payment, and takes nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, bindparam, insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Money, OrderStatus, Payment, PaymentStatus
from persistence.batch import Batch, run
from persistence.bound import Bound, Write, param
from persistence.tables import OrderRow, PaymentRow

__all__ = ["Charged", "ToCharge", "abandoned", "add", "idempotency_key", "load_for_charge"]

_ORDERS = OrderRow.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped
_PAYMENTS = PaymentRow.__table__  # type: ignore[attr-defined]


def idempotency_key(order_id: str) -> str:
    return f"order-{order_id}"


def abandoned(status: str, gateway_reference: str | None) -> bool:
    """Whether a payment is the compensation's fence: every other VOIDED payment was
    voided at the provider and keeps that charge's reference."""
    return status == PaymentStatus.VOIDED and gateway_reference is None


@dataclass(frozen=True)
class Charged:
    """A recorded payment and the gateway's reference for it."""

    payment: Payment
    gateway_reference: str | None

    @property
    def abandoned(self) -> bool:
        return abandoned(self.payment.status, self.gateway_reference)


@dataclass(frozen=True)
class ToCharge:
    """What a charge needs to know: the order's status, total and payment method (None:
    not recorded) and the payment an earlier attempt (or the fence) recorded (None: none
    yet)."""

    order_status: OrderStatus | None
    order_total: Money | None
    recorded: Charged | None
    order_method: str | None = None


def _for_charge() -> Select[Any]:
    payment = _PAYMENTS.c
    order = _ORDERS.c
    return (
        select(
            order.status.label("order_status"),
            order.total_amount,
            order.currency.label("order_currency"),
            order.payment_method.label("order_method"),
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
        .where(order.id == bindparam("order_id"))
    )


_FOR_CHARGE = _for_charge()
# Only the order's row: PostgreSQL cannot lock the nullable side of an outer join.
_FOR_CHARGE_LOCKED = _for_charge().with_for_update(of=_ORDERS)
_LONE_PAYMENT = select(
    _PAYMENTS.c.id,
    _PAYMENTS.c.amount,
    _PAYMENTS.c.currency,
    _PAYMENTS.c.status,
    _PAYMENTS.c.method,
    _PAYMENTS.c.created_at,
    _PAYMENTS.c.failure_reason,
    _PAYMENTS.c.gateway_reference,
).where(_PAYMENTS.c.order_id == bindparam("order_id"))
_PAYMENT_COLUMNS = (
    "id",
    "order_id",
    "amount",
    "currency",
    "status",
    "method",
    "idempotency_key",
    "gateway_reference",
    "failure_reason",
    "created_at",
    "updated_at",
)


@functools.cache
def _insert(prefix: str) -> Write:
    return insert(_PAYMENTS).values({name: param(prefix, name) for name in _PAYMENT_COLUMNS})


async def load_for_charge(session: AsyncSession, order_id: str, *, lock: bool = False) -> ToCharge:
    """The order and its payment in one read; ``lock`` holds the order's row until commit."""
    key = {"order_id": order_id}
    row = (await run(session, _FOR_CHARGE_LOCKED if lock else _FOR_CHARGE, key)).one_or_none()
    if row is None:
        # No order row: a payment recorded for it anyway (never by these activities) counts.
        lone = (await run(session, _LONE_PAYMENT, key)).one_or_none()
        return ToCharge(None, None, None if lone is None else _charged(order_id, lone))
    return ToCharge(
        OrderStatus(row.order_status),
        Money(row.total_amount, row.order_currency),
        None if row.id is None else _charged(order_id, row),
        row.order_method,
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
    row = {
        "id": payment.id,
        "order_id": payment.order_id,
        "amount": payment.amount.amount,
        "currency": payment.amount.currency,
        "status": payment.status.value,
        "method": payment.method,
        "idempotency_key": idempotency_key(payment.order_id),
        "gateway_reference": gateway_reference,
        "failure_reason": payment.failure_reason,
        "created_at": payment.timestamp,
        "updated_at": payment.timestamp,
    }
    batch.add(Bound(_insert, row))
