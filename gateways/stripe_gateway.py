"""The PaymentGateway port on Stripe's PaymentIntents, through the official SDK (async, httpx).

A charge is two requests, create then confirm, so the intent's id can be recorded (the
IntentLog) before any money moves: a retry, a refund compensation or an operator's retry
days later finds and continues that one intent. Stripe's idempotency keys alone could not
do it, because Stripe forgets them after 24 hours. Every request carries its own key,
derived from the order's key and the step (``order-<id>:create``, ``…:confirm``,
``…:capture``, ``…:cancel``, ``…:refund``), since Stripe refuses one key reused with other
parameters.

The one gap left: killed after Stripe created the intent and before the log recorded it,
a retry within 24 hours gets the same intent back by its key; a retry later creates a
second intent -- but the first was never confirmed, so it holds no money.

Refunds are found by their key for good, not only for Stripe's 24 hours: each carries its
key in its metadata, and a refund is created only after the intent's refunds show none
made under that key (and, for the whole amount, that the money is not already back). So
an after-sale refund retried a day later, or asked again with other lines under the
order's one refund key, answers with the refund that exists instead of making another.

An intent ``processing`` (the outcome is not known yet; for cards rare and short, for bank
debits days) raises ChargeProcessingError from every call, never "no charge" nor "cannot
void": the saga's step or compensation is retried until the intent settles, then does what
the settled intent needs. Cancelling it instead is not attempted: Stripe allows that only
"in rare cases", and a guess either way could lose the customer's money.

Errors, mapped onto the saga's rules: a card error is a decline (non-retryable, with
Stripe's decline code); rate limits, connection errors, 5xx and a key Stripe refuses are
GatewayUnavailableError (retried, counted by the circuit breaker); an idempotency conflict
is IdempotencyKeyReusedError and any other refused request GatewayRequestError.
"""

from __future__ import annotations

from typing import Protocol

import stripe

from gateways.payment_gateway import (
    ChargeProcessingError,
    ChargeStatus,
    GatewayCharge,
    GatewayRequestError,
    GatewayUnavailableError,
    IdempotencyKeyReusedError,
    PaymentDeclinedError,
)
from gateways.stripe_requests import (
    IDEMPOTENCY_KEY,
    REFUND_KEY,
    StripeRequests,
    build_stripe_client,
    from_minor_units,
    minor_units,
)
from models.money import Money

__all__ = ["IntentLog", "StripeGateway", "build_stripe_client"]

UNCONFIRMED = ("requires_payment_method", "requires_confirmation")
CANCELABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
PROCESSING = "processing"


class IntentLog(Protocol):
    """Where the intent made under an order's key is written down the moment it exists."""

    async def intent_for(self, idempotency_key: str) -> str | None: ...

    async def remember(self, idempotency_key: str, intent_id: str) -> None: ...


class StripeGateway:
    def __init__(
        self, client: stripe.StripeClient, intents: IntentLog, *, return_url: str = ""
    ) -> None:
        self._stripe = StripeRequests(client, return_url=return_url)
        self._log = intents

    async def charge(
        self, idempotency_key: str, amount: Money, token: str, *, capture: bool
    ) -> GatewayCharge:
        intent_id = await self._log.intent_for(idempotency_key)
        if intent_id is None:
            intent = await self._stripe.create(idempotency_key, amount, token, capture=capture)
            await self._log.remember(idempotency_key, intent.id)
        else:
            intent = await self._stripe.retrieve(intent_id)
            _check_same_request(intent, idempotency_key, amount, capture)
        if intent.status in UNCONFIRMED:
            if intent.last_payment_error is not None:
                raise _declined(intent.last_payment_error)  # the first answer, again
            intent = await self._stripe.confirm(idempotency_key, intent.id)
        return _charge_of(intent)

    async def capture(self, reference: str) -> GatewayCharge:
        intent = await self._current(reference)
        if intent.status == "requires_capture":
            intent = await self._stripe.capture(_key_of(intent), reference)
        elif intent.status != "succeeded":
            raise GatewayRequestError(f"intent {reference} is {intent.status}: nothing to capture")
        return _charge_of(intent)

    async def void(self, reference: str) -> GatewayCharge:
        intent = await self._current(reference)
        if intent.status == "requires_capture" or intent.status in CANCELABLE:
            intent = await self._stripe.cancel(_key_of(intent), reference)
        elif intent.status != "canceled":
            raise GatewayRequestError(f"intent {reference} is {intent.status}: cannot void it")
        return _charge_of(intent)

    async def refund(
        self, reference: str, amount: Money | None = None, *, idempotency_key: str | None = None
    ) -> GatewayCharge:
        """Refund the captured money, or ``amount`` of it, once per key (``idempotency_key``,
        else the order's): a refund already made under the key is the answer, and so are
        the refunds that already gave the whole charge back when all of it is asked."""
        intent = await self._current(reference)
        if intent.status != "succeeded":
            raise GatewayRequestError(f"intent {reference} is {intent.status}: nothing to refund")
        key = idempotency_key or _key_of(intent)
        standing = await self._stripe.refunds(reference)
        back = sum(r.amount for r in standing)
        received = intent.amount_received
        made = next((r for r in standing if _refund_key(r) == key), None)
        if made is not None:
            return _charge_of(intent, refund=made, refunded=back >= received)
        whole = amount is None or minor_units(amount) >= received
        if whole and standing and back >= received:
            return _charge_of(intent, refund=standing[0], refunded=True, given=back)
        refund = await self._stripe.refund(key, reference, amount)
        return _charge_of(intent, refund=refund, refunded=back + refund.amount >= received)

    async def find_charge(self, idempotency_key: str) -> GatewayCharge | None:
        """The intent recorded under ``idempotency_key``, if it holds, held or waits for
        money (REQUIRES_ACTION); None when none was made or it never got that far."""
        intent_id = await self._log.intent_for(idempotency_key)
        if intent_id is None:
            return None
        intent = await self._current(intent_id)
        if intent.status in UNCONFIRMED:
            return None
        if intent.status == "canceled" and intent.latest_charge is None:
            return None  # abandoned before any money was held
        if intent.status == "succeeded":
            standing = await self._stripe.refunds(intent_id)
            back = sum(r.amount for r in standing)
            if standing and back >= intent.amount_received:
                return _charge_of(intent, refund=standing[0], refunded=True, given=back)
        return _charge_of(intent)

    async def _current(self, intent_id: str) -> stripe.PaymentIntent:
        """The intent as it stands; one still processing has no answer to act on yet."""
        intent = await self._stripe.retrieve(intent_id)
        if intent.status == PROCESSING:
            raise _still_processing(intent)
        return intent


def _metadata(intent: stripe.PaymentIntent, key: str) -> str:
    # metadata is a StripeObject typed for attribute access; its keys are plain dict keys.
    return str(intent.metadata[key]) if key in intent.metadata else ""


def _key_of(intent: stripe.PaymentIntent) -> str:
    return _metadata(intent, IDEMPOTENCY_KEY) or intent.id


def _refund_key(refund: stripe.Refund) -> str:
    metadata = refund.metadata
    return str(metadata[REFUND_KEY]) if metadata is not None and REFUND_KEY in metadata else ""


def _still_processing(intent: stripe.PaymentIntent) -> ChargeProcessingError:
    return ChargeProcessingError(
        f"intent {intent.id} is still processing: no outcome yet, ask again later"
    )


def _check_same_request(
    intent: stripe.PaymentIntent, idempotency_key: str, amount: Money, capture: bool
) -> None:
    asked = (minor_units(amount), amount.currency.lower(), "automatic" if capture else "manual")
    made = (intent.amount, intent.currency, intent.capture_method)
    if asked[:2] != made[:2] or (asked[2] == "manual") != (made[2] == "manual"):
        raise IdempotencyKeyReusedError(
            f"idempotency key {idempotency_key!r} made intent {intent.id} with {made}, "
            f"now asked for {asked}"
        )


def _declined(error: stripe.PaymentIntent.LastPaymentError) -> PaymentDeclinedError:
    code = error.decline_code or error.code or "declined"
    return PaymentDeclinedError(error.message or "your card was declined", code)


def _next_action(intent: stripe.PaymentIntent) -> str | None:
    action = intent.next_action
    if action is None:
        return None
    # Stripe sends only the sub-object its ``type`` names.
    redirect = action.redirect_to_url if action.type == "redirect_to_url" else None
    if redirect is not None and redirect.url:
        return redirect.url
    # No return URL configured: the shop's page finishes it with Stripe.js.
    return f"stripe-js:{intent.client_secret}"


def _charge_of(
    intent: stripe.PaymentIntent,
    *,
    refund: stripe.Refund | None = None,
    refunded: bool = False,
    given: int | None = None,
) -> GatewayCharge:
    """``given``: what was given back in all, when the answer stands for every refund."""
    status = {
        "succeeded": ChargeStatus.CAPTURED,
        "requires_capture": ChargeStatus.AUTHORIZED,
        "requires_action": ChargeStatus.REQUIRES_ACTION,
        "canceled": ChargeStatus.VOIDED,
    }.get(intent.status)
    if intent.status == PROCESSING:
        raise _still_processing(intent)
    if status is None:
        # A state this adapter does not know: no answer to act on, so ask again later.
        raise GatewayUnavailableError(f"intent {intent.id} is {intent.status}")
    if refunded:
        status = ChargeStatus.REFUNDED
    refund_amount = None
    if refund is not None:
        refund_amount = from_minor_units(refund.amount if given is None else given, intent.currency)
    return GatewayCharge(
        reference=intent.id,
        status=status,
        amount=from_minor_units(intent.amount, intent.currency),
        idempotency_key=_metadata(intent, IDEMPOTENCY_KEY),
        refund_reference=None if refund is None else refund.id,
        refund_amount=refund_amount,
        next_action=_next_action(intent) if status is ChargeStatus.REQUIRES_ACTION else None,
    )
