"""Payment activities: charge (or authorise), capture, refund (or void) through the gateway.

The gateway is called outside any database transaction (no lock is held across the
network) and is itself idempotent per order (key ``order-<order_id>``), so the order is:
look up our record; if none, ask the gateway; record its answer in one transaction with
the events. A charge whose recording failed is found again by the retry's identical
request (or by ``find_charge`` when refunding) -- never charged twice.

An attempt can outlive the saga's patience: the compensation then finds nothing to undo
and fences the order off (``charges.record_fence``), and the late attempt takes nothing,
or gives back at once what it took.
"""

from __future__ import annotations

import logging

from activities import charges, undoing
from activities import payment_records as records
from activities.metrics import (
    count_charge,
    count_charge_error,
    count_charge_refused,
    watch_payment_circuit,
)
from activities.recording import INVALID_ORDER, WRONG_ORDER_STATUS, business_error
from gateways.payment_gateway import (
    ChargeStatus,
    GatewayCharge,
    GatewayRequestError,
    GatewayUnavailableError,
    PaymentDeclinedError,
    PaymentGateway,
    PaymentGatewayError,
)
from messages import contract, errors
from messages.activities import (
    CapturePaymentInput,
    ChargePaymentInput,
    PaymentResult,
    RecordPaymentOutcomeInput,
    RefundPaymentInput,
    RefundResult,
)
from messages.contract import implements
from models import DomainEvent, Payment, PaymentStatus
from persistence import payments
from persistence.clock import utc_now
from persistence.payments import Charged
from persistence.unit import Sessions, reading, transaction
from telemetry.context import order_context

__all__ = ["GATEWAY_REFUSED", "PaymentActivities"]

log = logging.getLogger(__name__)

GATEWAY_REFUSED = errors.GATEWAY_REFUSED

REFUNDED = "REFUNDED"
VOIDED = "VOIDED"
NOTHING_TO_REFUND = "NOTHING_TO_REFUND"


class PaymentActivities(contract.Payments):
    def __init__(self, sessions: Sessions, gateway: PaymentGateway) -> None:
        self._sessions = sessions
        self._gateway = gateway
        watch_payment_circuit(gateway)

    @implements(contract.Payments.charge_payment)
    async def charge_payment(self, arg: ChargePaymentInput) -> PaymentResult:
        """Charge (``capture``) or authorise the order's total once.

        Declined: a FAILED payment and PaymentFailed are committed and PAYMENT_DECLINED is
        raised, also by every retry. Gateway down: an ordinary error, retried.
        """
        with order_context(arg.order_id):
            async with reading(self._sessions) as session:
                known = await payments.load_for_charge(session, arg.order_id)
            if known.recorded is not None:
                return await self._answer_again(known.recorded)
            amount = charges.amount_of(arg)
            charges.check_payable(known, amount)
            payment = Payment(
                id=records.payment_id(arg.order_id),
                order_id=arg.order_id,
                amount=amount,
                method=arg.payment.method,
                timestamp=utc_now(),
            )
            events: list[DomainEvent]
            try:
                charge = await self._gateway.charge(
                    payments.idempotency_key(arg.order_id),
                    amount,
                    arg.payment.token,
                    capture=arg.capture,
                )
            except PaymentDeclinedError as declined:
                events = [payment.fail(declined.reason)]
                reference = None
            except GatewayRequestError as refused:
                count_charge_refused()
                raise business_error(str(refused), GATEWAY_REFUSED) from refused
            except GatewayUnavailableError:
                count_charge_error()
                raise
            else:
                events = [charges.first_event(payment, charge)]
                reference = charge.reference
            recorded = await charges.record_charge(self._sessions, payment, events, reference)
            if recorded.abandoned and reference is not None:
                await self._give_back(charge)
            if recorded.payment is payment:
                count_charge(payment.status)
            log.info("payment %s %s", payment.id, recorded.payment.status)
            return charges.answer(recorded, charge.next_action if reference is not None else None)

    async def _give_back(self, charge: GatewayCharge) -> None:
        """Undo what a late attempt took after the compensation fenced the order off: the
        fence says no charge stands, so nothing else would ever give it back."""
        log.warning("charge %s was made after the saga gave up; undoing it", charge.reference)
        try:
            undone = await undoing.undo(self._gateway, charge)
        except PaymentGatewayError:
            # No retry will come back here (a retry stops at the fence): say it loudly.
            log.exception("charge %s is kept at the provider; undo it by hand", charge.reference)
            raise
        log.warning("charge %s %s", undone.reference, undone.status)

    async def _answer_again(self, recorded: Charged) -> PaymentResult:
        """A retry's answer from the record; a payment still waiting for the customer
        asks the provider where the customer completes it."""
        if recorded.payment.status is not PaymentStatus.PENDING:
            return charges.answer(recorded)
        found = await self._gateway.find_charge(payments.idempotency_key(recorded.payment.order_id))
        return charges.answer(recorded, found.next_action if found is not None else None)

    @implements(contract.Payments.record_payment_outcome)
    async def record_payment_outcome(self, arg: RecordPaymentOutcomeInput) -> PaymentResult:
        """Record what the provider reported (by webhook) on a payment that waited for the
        customer's action; a second report of the same payment changes nothing.

        A failure also closes the charge at the provider first: Stripe leaves an intent
        whose authentication failed open (``requires_payment_method``) with its client
        secret already shown to the customer, who could otherwise still pay it after the
        order has ended. Had they paid it meanwhile, the money is given back and recorded.
        """
        with order_context(arg.order_id):
            closed = None if arg.succeeded else await self._close_failed(arg)
            recorded: Charged | None
            async with transaction(self._sessions) as session:
                if closed is not None and closed.status is not ChargeStatus.VOIDED:
                    recorded = await records.settle(session, arg.order_id, closed)
                else:
                    recorded = await records.apply_outcome(session, arg)
            if recorded is None:
                raise business_error(
                    f"order {arg.order_id} has no payment waiting for the customer",
                    WRONG_ORDER_STATUS,
                )
            if recorded.gateway_reference != arg.reference:
                raise business_error(
                    f"the report names charge {arg.reference}, the order's is "
                    f"{recorded.gateway_reference}",
                    INVALID_ORDER,
                )
            payment = recorded.payment
            log.info("payment %s %s (%s)", payment.id, payment.status, arg.provider_event_id)
            return records.result_of(recorded)

    async def _close_failed(self, arg: RecordPaymentOutcomeInput) -> GatewayCharge | None:
        """Close the reported charge before its failure is recorded (a retry after the
        record finds nothing left to do); None when there is nothing of ours to close."""
        async with reading(self._sessions) as session:
            recorded = await payments.load(session, arg.order_id)
        if (
            recorded is None
            or recorded.payment.status is not PaymentStatus.PENDING
            or recorded.gateway_reference != arg.reference
        ):
            return None
        charge = await undoing.abandon(self._gateway, recorded)
        if charge.status is not ChargeStatus.VOIDED:
            log.warning(
                "charge %s was paid after it failed; now %s", charge.reference, charge.status
            )
        return charge

    @implements(contract.Payments.capture_payment)
    async def capture_payment(self, arg: CapturePaymentInput) -> PaymentResult:
        """Take the authorised money: AUTHORIZED → CAPTURED and the order PAID, once."""
        with order_context(arg.order_id):
            async with reading(self._sessions) as session:
                recorded = await payments.load(session, arg.order_id)
            status = None if recorded is None else recorded.payment.status
            if status not in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED):
                what = "no payment" if status is None else f"payment {status}"
                raise business_error(
                    f"order {arg.order_id} has {what}; nothing to capture", WRONG_ORDER_STATUS
                )
            assert recorded is not None
            if status is PaymentStatus.AUTHORIZED:
                charge = await self._gateway.capture(undoing.reference(recorded))
                async with transaction(self._sessions) as session:
                    recorded = await records.settle(session, arg.order_id, charge)
                log.info("payment %s captured", recorded.payment.id)
            return records.result_of(recorded)

    @implements(contract.Payments.refund_payment)
    async def refund_payment(self, arg: RefundPaymentInput) -> RefundResult:
        """Give the money back: refund a capture, void an authorisation, once.

        With no payment recorded, the gateway is asked whether it holds a charge under the
        order's key (an attempt that charged but failed to record it) and that is undone;
        so is an authorisation the provider has captured meanwhile. A charge the provider
        has not settled yet (GatewayUnavailableError) is retried, never taken for none.
        With nothing to undo, the order is fenced off from a charge attempt still running.
        """
        with order_context(arg.order_id):
            return await self._refund(arg)

    async def _refund(self, arg: RefundPaymentInput) -> RefundResult:
        async with reading(self._sessions) as session:
            recorded = await payments.load(session, arg.order_id)
        status = None if recorded is None else recorded.payment.status
        if recorded is None:
            found = await self._gateway.find_charge(payments.idempotency_key(arg.order_id))
            if found is not None and found.status is ChargeStatus.REQUIRES_ACTION:
                # Nothing taken yet: abandon it, so the customer cannot complete it later.
                await self._gateway.void(found.reference)
                found = None
            if found is None:
                if await charges.record_fence(self._sessions, arg.order_id) is None:
                    return RefundResult(order_id=arg.order_id, outcome=NOTHING_TO_REFUND)
                # A late attempt recorded its charge since we looked, so no fence: undo
                # that charge from its row (which exists now: this recurses once at most).
                return await self._refund(arg)
            log.warning("found an unrecorded charge %s; undoing it", found.reference)
            charge = await undoing.undo(self._gateway, found)
        elif recorded.abandoned:
            # The fence a first attempt left: the same answer again.
            return RefundResult(order_id=arg.order_id, outcome=NOTHING_TO_REFUND)
        elif status is PaymentStatus.CAPTURED:
            charge = await self._gateway.refund(undoing.reference(recorded))
        elif status is PaymentStatus.AUTHORIZED:
            charge = await undoing.release(self._gateway, recorded)
        elif status is PaymentStatus.PENDING and recorded.gateway_reference is not None:
            charge = await undoing.abandon(self._gateway, recorded)
        else:
            return _refund_result(recorded)
        async with transaction(self._sessions) as session:
            recorded = await records.settle(session, arg.order_id, charge)
        log.info("payment %s %s (%s)", recorded.payment.id, recorded.payment.status, arg.reason)
        return _refund_result(recorded)


def _refund_result(recorded: Charged) -> RefundResult:
    payment = recorded.payment
    outcome = {PaymentStatus.REFUNDED: REFUNDED, PaymentStatus.VOIDED: VOIDED}.get(
        payment.status, NOTHING_TO_REFUND
    )
    return RefundResult(order_id=payment.order_id, outcome=outcome, payment_id=payment.id)
