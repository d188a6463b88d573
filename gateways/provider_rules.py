"""What the simulated payment provider does to its books for each request: charge, capture,
void, refund, complete a customer's action, find a charge.

Each function runs inside one ledger transaction (gateways/provider_ledger.py), so a
request is applied entirely or not at all; gateways/simulated_payment.py adds the trip to
the provider and back around it.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from gateways.payment_gateway import (
    ChargeStatus,
    GatewayCharge,
    GatewayRequestError,
    IdempotencyKeyReusedError,
    PaymentDeclinedError,
)
from gateways.provider_ledger import (
    Books,
    Entry,
    Refund,
    Request,
    first_answer,
)
from models.money import Money

# token -> (decline code, reason shown to the customer)
DECLINING_TOKENS: dict[str, tuple[str, str]] = {
    "tok_chargeDeclined": ("card_declined", "your card was declined"),
    "tok_insufficientFunds": ("insufficient_funds", "your card has insufficient funds"),
    "tok_expiredCard": ("expired_card", "your card has expired"),
    "tok_lostCard": ("lost_card", "your card was declined"),
}


def charge_once(books: Books, idempotency_key: str, request: Request) -> GatewayCharge:
    seen = books.entry(idempotency_key)
    if seen is not None:
        if seen.request != request:
            raise IdempotencyKeyReusedError(
                f"idempotency key {idempotency_key!r} was used with other parameters"
            )
        if seen.decline is not None:
            raise _declined(seen.decline)
        assert seen.response is not None
        return seen.response
    decline = _decline_for(request.token)
    if decline is not None:
        books.record_entry(idempotency_key, Entry(request, None, decline))
        raise _declined(decline)
    reference = f"ch_{uuid.uuid4().hex}"
    charge = first_answer(request, reference, idempotency_key)
    books.add_charge(charge)
    books.record_entry(idempotency_key, Entry(request, charge, None))
    return charge


def find(books: Books, idempotency_key: str) -> GatewayCharge | None:
    seen = books.entry(idempotency_key)
    if seen is None or seen.response is None:
        return None
    charge = books.charge(seen.response.reference)
    return None if charge is None else _given_back(charge)


def _given_back(charge: GatewayCharge) -> GatewayCharge:
    """A charge refunded in full names all of its money as given back."""
    if charge.status is ChargeStatus.REFUNDED:
        return replace(charge, refund_amount=charge.amount)
    return charge


VOIDABLE = (ChargeStatus.AUTHORIZED, ChargeStatus.REQUIRES_ACTION)


def authenticated(capture: bool) -> ChargeStatus:
    return ChargeStatus.CAPTURED if capture else ChargeStatus.AUTHORIZED


def move(
    books: Books, reference: str, sources: tuple[ChargeStatus, ...], target: ChargeStatus
) -> GatewayCharge:
    charge = books.charge(reference)
    if charge is None:
        raise GatewayRequestError(f"no such charge: {reference}")
    if charge.status is target:
        return charge  # repeated request: the provider answers with the current state
    if charge.status not in sources:
        raise GatewayRequestError(f"charge {reference} is {charge.status}, cannot become {target}")
    refund_reference = f"re_{uuid.uuid4().hex}" if target is ChargeStatus.REFUNDED else None
    moved = replace(charge, status=target, refund_reference=refund_reference, next_action=None)
    books.update_charge(moved)
    return moved


def refund_once(
    books: Books, reference: str, amount: Money | None, idempotency_key: str | None
) -> GatewayCharge:
    """Give back ``amount`` (None: all that is left) of a captured charge, once per key.

    A key already used for this charge answers with its refund, whatever the amount asked
    (one after-sale refund per order); on another charge it is refused. The whole charge
    asked back when it is already REFUNDED is answered as it stands, not refused."""
    charge = books.charge(reference)
    if charge is None:
        raise GatewayRequestError(f"no such charge: {reference}")
    if idempotency_key is not None:
        seen = books.refund(idempotency_key)
        if seen is not None:
            if seen.charge_reference != reference:
                raise IdempotencyKeyReusedError(
                    f"idempotency key {idempotency_key!r} was used for another charge"
                )
            return replace(
                charge, refund_reference=seen.refund_reference, refund_amount=seen.amount
            )
    whole = amount is None or amount == charge.amount
    if charge.status is ChargeStatus.REFUNDED and whole:
        return _given_back(charge)  # the money is already back: nothing more to give
    if charge.status is not ChargeStatus.CAPTURED:
        raise GatewayRequestError(f"charge {reference} is {charge.status}, cannot be refunded")
    left = charge.amount.amount - books.refunded(reference)
    give = left if amount is None else amount.amount
    if amount is not None and amount.currency != charge.amount.currency:
        raise GatewayRequestError(f"refund in {amount.currency} of a {charge.amount} charge")
    if not 0 < give <= left:
        raise GatewayRequestError(
            f"cannot refund {give} of charge {reference}: {left} is left to refund"
        )
    refund_reference = f"re_{uuid.uuid4().hex}"
    given = Money(give, charge.amount.currency)
    refund = Refund(reference, given, refund_reference)
    books.record_refund(idempotency_key or refund_reference, refund)
    status = ChargeStatus.REFUNDED if give == left else ChargeStatus.CAPTURED
    moved = replace(charge, status=status, refund_reference=refund_reference, next_action=None)
    books.update_charge(moved)
    return replace(moved, refund_amount=given)


def _decline_for(token: str) -> tuple[str, str] | None:
    known = DECLINING_TOKENS.get(token)
    if known is not None:
        return known
    if not token.startswith("tok_"):
        return ("invalid_token", "the payment token is not valid")
    return None


def _declined(decline: tuple[str, str]) -> PaymentDeclinedError:
    code, reason = decline
    return PaymentDeclinedError(reason, code)
