"""Recording what the provider says a payment became: its report on a payment that waited
for the customer (``apply_outcome``), and the charge after a capture, refund or void there
(``settle``). Each loads the order and its payment under the order's lock, lets the
domain decide, and saves both with the events in one batch.
"""

from __future__ import annotations

from activities.recording import stable_id
from gateways.payment_gateway import ChargeStatus, GatewayCharge
from messages.activities import PaymentResult, RecordPaymentOutcomeInput
from models import DomainEvent, Order, OrderStatus, Payment, PaymentStatus
from persistence import orders, payments
from persistence.batch import Batch
from persistence.clock import utc_now
from persistence.unit import Session

__all__ = ["apply_outcome", "payment_id", "result_of", "settle"]


def payment_id(order_id: str) -> str:
    return stable_id("payment", order_id)


def result_of(recorded: payments.Charged, next_action: str | None = None) -> PaymentResult:
    payment = recorded.payment
    return PaymentResult(
        order_id=payment.order_id,
        payment_id=payment.id,
        status=payment.status.value,
        gateway_reference=recorded.gateway_reference,
        next_action=next_action,
    )


async def apply_outcome(
    session: Session, arg: RecordPaymentOutcomeInput
) -> payments.Charged | None:
    """Record the provider's report on a payment that waited for the customer, once.

    Succeeded: the payment is captured (or authorised), and the order, still waiting,
    PAID (or back to RESERVED, to be captured at confirmation). Failed: the payment FAILED
    with its reason; the order's end is recorded with the customer's notice. A payment
    already past PENDING is left as it is (a report delivered twice), and so is one waiting
    on another charge than the one reported (the caller refuses that). None when there is
    no payment at all.
    """
    # Order first, then payment, as every payment writer locks them: no deadlock.
    order = await orders.load_stored(session, arg.order_id)
    recorded = await payments.load(session, arg.order_id, lock=True)
    if (
        recorded is None
        or recorded.payment.status is not PaymentStatus.PENDING
        or recorded.gateway_reference != arg.reference
    ):
        return recorded
    payment = recorded.payment
    event: DomainEvent
    if arg.succeeded:
        event = payment.capture() if arg.capture else payment.authorize()
    else:
        event = payment.fail(arg.reason or "the payment was not completed")
    batch = Batch(session)
    payments.update_status(batch, payment)
    if order is not None:
        was = order.status
        order.payment_reported(payment)
        _save_if_moved(batch, order, was)
    batch.add_events([event], utc_now())
    await batch.send()
    return recorded


async def settle(session: Session, order_id: str, charge: GatewayCharge) -> payments.Charged:
    """Bring the order's payment to what the gateway says ``charge`` now is.

    Used after a capture, refund or void at the gateway. A charge with no payment recorded
    (made by an attempt whose recording was lost) gets its payment now, with the events it
    missed.
    """
    order = await orders.load_stored(session, order_id)
    recorded = await payments.load(session, order_id, lock=True)
    events: list[DomainEvent] = []
    if recorded is None:
        payment = Payment(
            id=payment_id(order_id), order_id=order_id, amount=charge.amount, timestamp=utc_now()
        )
        # The money was taken (or held) before it was given back: the timeline says both.
        held = charge.status in (ChargeStatus.AUTHORIZED, ChargeStatus.VOIDED)
        events.append(payment.authorize() if held else payment.capture())
        reference: str | None = charge.reference
    else:
        payment, reference = recorded.payment, recorded.gateway_reference
    before = payment.status
    events += payment.follow(PaymentStatus(charge.status.value))
    batch = Batch(session)
    if recorded is None:
        payments.add(
            batch, payment, gateway_reference=reference, refund_reference=charge.refund_reference
        )
    elif payment.status is PaymentStatus.REFUNDED and before is not PaymentStatus.REFUNDED:
        payments.refunded(batch, payment, refund_reference=charge.refund_reference)
    elif payment.status is not before:
        payments.update_status(batch, payment)
    if order is not None and before is not PaymentStatus.CAPTURED:
        # Only a capture made here moves the order (to PAID): the money given back on the
        # way to a refund belongs to an order being compensated.
        was = order.status
        if payment.status is PaymentStatus.CAPTURED:
            order.record_payment(payment)
        _save_if_moved(batch, order, was)
    batch.add_events(events, utc_now())
    await batch.send()
    return payments.Charged(payment, reference)


def _save_if_moved(batch: Batch, order: Order, was: OrderStatus) -> None:
    if order.status is not was:
        orders.update_status(batch, order)
