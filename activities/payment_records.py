"""Payments as stored: the row per order, its domain object, and writing both with events.

One payment per order (UNIQUE order_id and idempotency key): the row is the activity's
record of what the gateway answered, so a retry answers from it without asking again.
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from activities.recording import lock_order, move_order, stable_id
from gateways.payment_gateway import ChargeStatus, GatewayCharge
from messages.activities import PaymentResult, RecordPaymentOutcomeInput
from models import DomainEvent, Money, OrderStatus, Payment, PaymentStatus
from persistence.event_store import append_events
from persistence.tables import PaymentRow, utc_now

__all__ = [
    "apply_outcome",
    "idempotency_key",
    "payment_id",
    "payment_of",
    "result_of",
    "save_new",
    "settle",
    "to_domain",
]


def idempotency_key(order_id: str) -> str:
    return f"order-{order_id}"


def payment_id(order_id: str) -> str:
    return stable_id("payment", order_id)


async def payment_of(
    session: AsyncSession, order_id: str, *, lock: bool = False
) -> PaymentRow | None:
    statement = select(PaymentRow).where(col(PaymentRow.order_id) == order_id)
    if lock:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


def to_domain(row: PaymentRow) -> Payment:
    return Payment(
        id=row.id,
        order_id=row.order_id,
        amount=Money(row.amount, row.currency),
        status=PaymentStatus(row.status),
        method=row.method,
        timestamp=row.created_at,
        failure_reason=row.failure_reason,
    )


def result_of(row: PaymentRow, next_action: str | None = None) -> PaymentResult:
    return PaymentResult(
        order_id=row.order_id,
        payment_id=row.id,
        status=row.status,
        gateway_reference=row.gateway_reference,
        next_action=next_action,
    )


async def apply_outcome(session: AsyncSession, arg: RecordPaymentOutcomeInput) -> PaymentRow | None:
    """Record the provider's report on a payment that waited for the customer, once.

    Succeeded: the payment is captured (or authorised) and the order PAID (or back to
    RESERVED, to be captured at confirmation). Failed: the payment FAILED with its reason;
    the order's end is recorded with the customer's notice. A payment already past PENDING
    is left as it is (a report delivered twice), and so is one waiting on another charge
    than the one reported (the caller refuses that). None when there is no payment at all.
    """
    order = await lock_order(session, arg.order_id)
    row = await payment_of(session, arg.order_id, lock=True)
    if row is None or row.status != PaymentStatus.PENDING or row.gateway_reference != arg.reference:
        return row
    payment = to_domain(row)
    if arg.succeeded:
        event: DomainEvent = payment.capture() if arg.capture else payment.authorize()
        after = OrderStatus.PAID if arg.capture else OrderStatus.RESERVED
        if order is not None and order.status == OrderStatus.PAYMENT_PENDING:
            move_order(order, after)
    else:
        event = payment.fail(arg.reason or "the payment was not completed")
        row.failure_reason = payment.failure_reason
    row.status = payment.status.value
    await append_events(session, [event], occurred_at=utc_now())
    return row


async def save_new(
    session: AsyncSession,
    payment: Payment,
    events: list[DomainEvent],
    *,
    gateway_reference: str | None,
) -> PaymentRow:
    """Insert ``payment`` with ``events``; a captured payment makes its order PAID, one
    waiting for the customer's action (still PENDING) makes it PAYMENT_PENDING.

    Returns the row already there instead when a concurrent attempt recorded it first.
    """
    order = await lock_order(session, payment.order_id)
    existing = await payment_of(session, payment.order_id, lock=True)
    if existing is not None:
        return existing
    row = PaymentRow(
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
    )
    session.add(row)
    if payment.status is PaymentStatus.CAPTURED and order is not None:
        move_order(order, OrderStatus.PAID)
    elif payment.status is PaymentStatus.PENDING and order is not None:
        # The provider waits for the customer: the read model shows it until the report.
        move_order(order, OrderStatus.PAYMENT_PENDING)
    await session.flush()
    await append_events(session, events, occurred_at=utc_now())
    return row


async def settle(session: AsyncSession, order_id: str, charge: GatewayCharge) -> PaymentRow:
    """Bring the order's payment row to what the gateway says ``charge`` now is.

    Used after a capture, refund or void at the gateway. A charge with no row (made by an
    attempt whose recording was lost) gets its row now, with the events it missed.
    """
    # Order first, then payment, as save_new locks them: no deadlock between the two.
    order = await lock_order(session, order_id)
    row = await payment_of(session, order_id, lock=True)
    events: list[DomainEvent] = []
    if row is None:
        payment = Payment(
            id=payment_id(order_id),
            order_id=order_id,
            amount=charge.amount,
            timestamp=utc_now(),
        )
        # The money was taken (or held) before it was given back: the timeline says both.
        held = charge.status in (ChargeStatus.AUTHORIZED, ChargeStatus.VOIDED)
        events.append(payment.authorize() if held else payment.capture())
        row = PaymentRow(
            id=payment.id,
            order_id=order_id,
            amount=charge.amount.amount,
            currency=charge.amount.currency,
            status=payment.status.value,
            method=payment.method,
            idempotency_key=charge.idempotency_key,
            gateway_reference=charge.reference,
        )
        session.add(row)
    else:
        payment = to_domain(row)
    target = PaymentStatus(charge.status.value)
    not_taken = (PaymentStatus.PENDING, PaymentStatus.AUTHORIZED)
    if payment.status in not_taken and target is PaymentStatus.REFUNDED:
        # Taken, then given back, and the timeline says both: the customer completed the
        # payment while it was being abandoned, or a capture's record was lost. The order
        # is being compensated, so it does not become PAID on the way.
        events.append(payment.capture())
    if target is not payment.status:
        if target is PaymentStatus.CAPTURED:
            events.append(payment.capture())
            if order is not None:
                move_order(order, OrderStatus.PAID)
        elif target is PaymentStatus.REFUNDED:
            events.append(payment.refund())
            row.refunded_at = utc_now()
            row.refund_reference = charge.refund_reference
        elif target is PaymentStatus.VOIDED:
            events.append(payment.void())
        row.status = payment.status.value
    await session.flush()
    await append_events(session, events, occurred_at=utc_now())
    return row
