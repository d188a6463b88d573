"""Charging an order: what the charge may take, how its answer is recorded and returned.

A charge is recorded in one transaction under the order's lock: the payment, the order's
move (PAID, or PAYMENT_PENDING while the provider waits for the customer) and the events.

A compensation that finds nothing to undo records a fence under the same lock, in the
same place (``record_fence``): an attempt still running when the saga gave up meets it
before the provider (its first read) or, having been there already, when it records.
"""

from __future__ import annotations

from activities import payment_records as records
from activities.recording import INVALID_ORDER, WRONG_ORDER_STATUS, business_error
from gateways.payment_gateway import ChargeStatus, GatewayCharge, public_next_action
from messages import errors
from messages.activities import ChargePaymentInput, PaymentResult
from models import DomainEvent, InvalidValueError, Money, OrderStatus, Payment, PaymentStatus
from persistence import orders, payments
from persistence.batch import Batch
from persistence.clock import utc_now
from persistence.unit import Conflict, Sessions, reading, transaction

__all__ = [
    "amount_of",
    "answer",
    "check_payable",
    "first_event",
    "record_charge",
    "record_fence",
]


async def record_charge(
    sessions: Sessions,
    payment: Payment,
    events: list[DomainEvent],
    reference: str | None,
) -> payments.Charged:
    """Record the gateway's answer with its events; a captured payment makes the order
    PAID, one waiting for the customer's action PAYMENT_PENDING. Answers the payment a
    racing twin, or the compensation's fence, recorded first instead, when there is one."""
    try:
        async with transaction(sessions) as session:
            # Locks the order: attempts for one order take turns from here.
            known = await payments.load_for_charge(session, payment.order_id, lock=True)
            if known.recorded is not None:
                return known.recorded
            batch = Batch(session)
            payments.add(batch, payment, gateway_reference=reference)
            order = known.order
            if order is not None:
                was = order.status
                order.record_payment(payment)
                if order.status is not was:
                    orders.update_status(batch, order)
            batch.add_events(events, utc_now())
            await batch.send()
    except Conflict:
        recorded = await _recorded_meanwhile(sessions, payment.order_id)
        if recorded is None:
            raise
        return recorded
    return payments.Charged(payment, reference)


async def record_fence(sessions: Sessions, order_id: str) -> payments.Charged | None:
    """Fence the order off from a late charge attempt, once: its payment VOIDED with no
    charge named and no event (``Payment.abandon``). None once the fence stands, or when
    the order is not recorded (no charge can pass ``check_payable`` then). A charge an
    attempt recorded since the caller looked is answered instead, for the caller to undo.
    """
    try:
        async with transaction(sessions) as session:
            known = await payments.load_for_charge(session, order_id, lock=True)
            if known.recorded is not None:
                return None if known.recorded.abandoned else known.recorded
            if known.order is None:
                return None
            fence = Payment(
                id=records.payment_id(order_id),
                order_id=order_id,
                amount=known.order.total,
                method=known.order.payment.method,
                timestamp=utc_now(),
            )
            fence.abandon()
            batch = Batch(session)
            payments.add(batch, fence, gateway_reference=None)
            await batch.send()
    except Conflict:
        recorded = await _recorded_meanwhile(sessions, order_id)
        if recorded is None:
            raise
        return None if recorded.abandoned else recorded
    return None


async def _recorded_meanwhile(sessions: Sessions, order_id: str) -> payments.Charged | None:
    """The payment an insert just collided with (None: the conflict was something else).
    PostgreSQL's locked read sees the rows of when it began: a payment committed while it
    waited on the order's lock (a twin's charge, the fence) shows only as the conflict."""
    async with reading(sessions) as session:
        known = await payments.load_for_charge(session, order_id)
    return known.recorded


def amount_of(arg: ChargePaymentInput) -> Money:
    try:
        amount = Money.of(arg.amount, arg.currency)
    except InvalidValueError as exc:
        raise business_error(
            f"cannot charge {arg.amount} {arg.currency}: {exc}", INVALID_ORDER
        ) from exc
    return amount


def check_payable(known: payments.OrderPayment, amount: Money) -> None:
    """Money is taken only for a recorded, reserved order, and only its recorded total."""
    if known.order_status is not OrderStatus.RESERVED:
        status = "not recorded" if known.order_status is None else known.order_status
        raise business_error(f"order is {status}, not RESERVED: not charged", WRONG_ORDER_STATUS)
    if known.order_total != amount:
        raise business_error(
            f"charge of {amount} does not match the order total {known.order_total}",
            INVALID_ORDER,
        )


def answer(recorded: payments.Charged, next_action: str | None = None) -> PaymentResult:
    """The charge's result; a decline and the compensation's fence are refused as final."""
    payment = recorded.payment
    if recorded.abandoned:
        # Only an attempt the saga gave up on gets here. Refused, not answered with the
        # VOIDED payment: a saga reading that answer would take the order for paid.
        raise business_error(
            f"the saga gave up on charging order {payment.order_id}: not charged",
            WRONG_ORDER_STATUS,
        )
    if payment.status is PaymentStatus.FAILED:
        raise business_error(payment.failure_reason or "payment declined", errors.PAYMENT_DECLINED)
    return PaymentResult(
        order_id=payment.order_id,
        payment_id=payment.id,
        status=payment.status.value,
        gateway_reference=recorded.gateway_reference,
        next_action=next_action,
    )


def first_event(payment: Payment, charge: GatewayCharge) -> DomainEvent:
    if charge.status is ChargeStatus.REQUIRES_ACTION:
        return payment.require_action(public_next_action(charge.next_action))
    return payment.capture() if charge.status is ChargeStatus.CAPTURED else payment.authorize()
