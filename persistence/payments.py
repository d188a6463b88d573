"""Payments as stored: one row per order (UNIQUE order_id and idempotency key), the
activity's record of what the gateway answered, so a retry answers from it.

Writers lock the order's row first (``load_for_charge(lock=True)``, or
``orders.load_stored`` before ``load(lock=True)``), so the attempts of one order take
turns on its payment.

A VOIDED payment that names no charge at the provider is the fence a compensation leaves
when it found nothing to undo (``abandoned``): a charge attempt still running reads it
where it reads any earlier attempt's payment, and takes nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, bindparam, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Money, Order, OrderStatus, Payment, PaymentStatus
from persistence import orders
from persistence.batch import Batch, run
from persistence.bound import Bound, Write, param
from persistence.clock import utc_now
from persistence.tables import OrderItemRow, OrderRow, PaymentRow

__all__ = [
    "Charged",
    "OrderPayment",
    "abandoned",
    "add",
    "idempotency_key",
    "load",
    "load_for_charge",
    "refunded",
    "update_status",
]

_ORDERS = OrderRow.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped
_ITEMS = OrderItemRow.__table__  # type: ignore[attr-defined]
_PAYMENTS = PaymentRow.__table__  # type: ignore[attr-defined]


def idempotency_key(order_id: str) -> str:
    """The provider's key for the order's one charge: a retry meets the same charge."""
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
class OrderPayment:
    """The order as stored (None: not recorded) and the payment an earlier attempt (or
    the fence) recorded for it (None: none yet)."""

    order: Order | None
    recorded: Charged | None

    @property
    def order_status(self) -> OrderStatus | None:
        return None if self.order is None else self.order.status

    @property
    def order_total(self) -> Money | None:
        return None if self.order is None else self.order.total


_PAYMENT_READ = (
    _PAYMENTS.c.id,
    _PAYMENTS.c.amount,
    _PAYMENTS.c.currency,
    _PAYMENTS.c.status,
    _PAYMENTS.c.method,
    _PAYMENTS.c.created_at,
    _PAYMENTS.c.failure_reason,
    _PAYMENTS.c.gateway_reference,
)


def _for_charge() -> Select[Any]:
    joined = _ORDERS.join(_ITEMS, _ITEMS.c.order_id == _ORDERS.c.id).outerjoin(
        _PAYMENTS, _PAYMENTS.c.order_id == _ORDERS.c.id
    )
    return (
        select(*orders.STORED, *_PAYMENT_READ)
        .select_from(joined)
        .where(_ORDERS.c.id == bindparam("order_id"))
        .order_by(_ITEMS.c.id)
    )


_FOR_CHARGE = _for_charge()
# Only the order's row: PostgreSQL cannot lock the nullable side of an outer join.
_FOR_CHARGE_LOCKED = _for_charge().with_for_update(of=_ORDERS)
_PAYMENT = select(*_PAYMENT_READ).where(_PAYMENTS.c.order_id == bindparam("order_id"))
_PAYMENT_LOCKED = _PAYMENT.with_for_update()
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
    "refunded_at",
    "refund_reference",
)


@functools.cache
def _insert(prefix: str) -> Write:
    return insert(_PAYMENTS).values({name: param(prefix, name) for name in _PAYMENT_COLUMNS})


@functools.cache
def _update(prefix: str) -> Write:
    names = ("status", "failure_reason", "updated_at")
    return (
        update(_PAYMENTS)
        .where(_PAYMENTS.c.id == param(prefix, "id"))
        .values({name: param(prefix, name) for name in names})
    )


@functools.cache
def _refunded(prefix: str) -> Write:
    names = ("status", "refunded_at", "refund_reference", "updated_at")
    return (
        update(_PAYMENTS)
        .where(_PAYMENTS.c.id == param(prefix, "id"))
        .values({name: param(prefix, name) for name in names})
    )


async def load_for_charge(
    session: AsyncSession, order_id: str, *, lock: bool = False
) -> OrderPayment:
    """The order and its payment in one read; ``lock`` holds the order's row until commit.

    PostgreSQL's locked read sees the payment as it was when the read began: a payment
    committed while it waited on the order's lock shows only as a conflict on insert."""
    key = {"order_id": order_id}
    rows = (await run(session, _FOR_CHARGE_LOCKED if lock else _FOR_CHARGE, key)).all()
    if not rows:
        # No order row: a payment recorded for it anyway (never by these activities) counts.
        return OrderPayment(None, await load(session, order_id))
    head = rows[0]
    recorded = None if head.id is None else _charged(order_id, head)
    return OrderPayment(orders.from_rows(order_id, rows), recorded)


async def load(session: AsyncSession, order_id: str, *, lock: bool = False) -> Charged | None:
    """The order's payment (``lock``: its row locked until commit; take the order's lock
    first, as every writer does)."""
    statement = _PAYMENT_LOCKED if lock else _PAYMENT
    row = (await run(session, statement, {"order_id": order_id})).one_or_none()
    return None if row is None else _charged(order_id, row)


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


def add(
    batch: Batch,
    payment: Payment,
    *,
    gateway_reference: str | None,
    refund_reference: str | None = None,
) -> None:
    """Insert the payment as the domain has it now (refunded already: a charge whose
    record was lost, given back before it was found)."""
    refunded_now = payment.status is PaymentStatus.REFUNDED
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
        "refunded_at": utc_now() if refunded_now else None,
        "refund_reference": refund_reference if refunded_now else None,
    }
    batch.add(Bound(_insert, row))


def update_status(batch: Batch, payment: Payment) -> None:
    """Write the status (and failure reason) the domain moved the payment to."""
    values = {
        "id": payment.id,
        "status": payment.status.value,
        "failure_reason": payment.failure_reason,
        "updated_at": utc_now(),
    }
    batch.add(Bound(_update, values))


def refunded(batch: Batch, payment: Payment, *, refund_reference: str | None) -> None:
    """Write a refund the domain recorded on the payment (all of it, or some lines)."""
    now = utc_now()
    values = {
        "id": payment.id,
        "status": payment.status.value,
        "refunded_at": now,
        "refund_reference": refund_reference,
        "updated_at": now,
    }
    batch.add(Bound(_refunded, values))
