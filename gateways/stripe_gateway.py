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

Errors, mapped onto the saga's rules: a card error is a decline (non-retryable, with
Stripe's decline code); rate limits, connection errors, 5xx and a key Stripe refuses are
GatewayUnavailableError (retried, counted by the circuit breaker); an idempotency conflict
is IdempotencyKeyReusedError and any other refused request GatewayRequestError.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Protocol, TypeVar

import stripe

from gateways.payment_gateway import (
    ChargeStatus,
    GatewayCharge,
    GatewayRequestError,
    GatewayUnavailableError,
    IdempotencyKeyReusedError,
    PaymentDeclinedError,
)
from models.money import Money

__all__ = [
    "ORDER_ID_KEY",
    "IntentLog",
    "StripeGateway",
    "build_stripe_client",
    "from_minor_units",
    "minor_units",
]

T = TypeVar("T")

# The metadata entries every intent carries: the webhook finds the saga by the first.
ORDER_ID_KEY = "order_id"
IDEMPOTENCY_KEY = "idempotency_key"
ORDER_KEY_PREFIX = "order-"
REQUEST_TIMEOUT_SECONDS = 20.0

# ISO 4217 currencies Stripe counts in whole units (its "zero-decimal" list).
ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()  # noqa: SIM905
)
UNCONFIRMED = ("requires_payment_method", "requires_confirmation")
CANCELABLE = ("requires_payment_method", "requires_confirmation", "requires_action")


class IntentLog(Protocol):
    """Where the intent made under an order's key is written down the moment it exists."""

    async def intent_for(self, idempotency_key: str) -> str | None: ...

    async def remember(self, idempotency_key: str, intent_id: str) -> None: ...


def minor_units(money: Money) -> int:
    exponent = 0 if money.currency in ZERO_DECIMAL else 2
    return int(money.amount.scaleb(exponent))


def from_minor_units(amount: int, currency: str) -> Money:
    code = currency.upper()
    exponent = 0 if code in ZERO_DECIMAL else -2
    return Money(Decimal(amount).scaleb(exponent), code)


def build_stripe_client(
    secret_key: str, *, api_base: str = "", http_client: stripe.HTTPClient | None = None
) -> stripe.StripeClient:
    """The SDK's client on httpx (async). ``api_base`` points it elsewhere (a test double)."""
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else None,
        http_client=http_client or stripe.HTTPXClient(timeout=REQUEST_TIMEOUT_SECONDS),
        # Temporal retries with backoff and the circuit breaker counts each failure; SDK
        # retries underneath would hide both.
        max_network_retries=0,
    )


class StripeGateway:
    def __init__(
        self, client: stripe.StripeClient, intents: IntentLog, *, return_url: str = ""
    ) -> None:
        self._intents = client.v1.payment_intents
        self._refunds = client.v1.refunds
        self._log = intents
        self._return_url = return_url

    async def charge(
        self, idempotency_key: str, amount: Money, token: str, *, capture: bool
    ) -> GatewayCharge:
        intent_id = await self._log.intent_for(idempotency_key)
        if intent_id is None:
            intent = await _call(
                lambda: self._intents.create_async(
                    {
                        "amount": minor_units(amount),
                        "currency": amount.currency.lower(),
                        "capture_method": "automatic" if capture else "manual",
                        "payment_method": token,
                        # Cards only, and no redirect-based methods: the saga has no
                        # customer browser to send anywhere but the 3-D Secure page.
                        "automatic_payment_methods": {
                            "enabled": True,
                            "allow_redirects": "never",
                        },
                        "metadata": {
                            ORDER_ID_KEY: _order_id(idempotency_key),
                            IDEMPOTENCY_KEY: idempotency_key,
                        },
                    },
                    {"idempotency_key": f"{idempotency_key}:create"},
                )
            )
            await self._log.remember(idempotency_key, intent.id)
        else:
            intent = await self._retrieve(intent_id)
            _check_same_request(intent, idempotency_key, amount, capture)
        if intent.status in UNCONFIRMED:
            if intent.last_payment_error is not None:
                raise _declined(intent.last_payment_error)  # the first answer, again
            confirmed = intent.id
            intent = await _call(
                lambda: self._intents.confirm_async(
                    confirmed,
                    {"return_url": self._return_url} if self._return_url else {},
                    {"idempotency_key": f"{idempotency_key}:confirm"},
                )
            )
        return _charge_of(intent)

    async def capture(self, reference: str) -> GatewayCharge:
        intent = await self._retrieve(reference)
        if intent.status == "requires_capture":
            intent = await _call(
                lambda: self._intents.capture_async(
                    reference, {}, {"idempotency_key": f"{_key_of(intent)}:capture"}
                )
            )
        elif intent.status != "succeeded":
            raise GatewayRequestError(f"intent {reference} is {intent.status}: nothing to capture")
        return _charge_of(intent)

    async def void(self, reference: str) -> GatewayCharge:
        intent = await self._retrieve(reference)
        if intent.status == "requires_capture" or intent.status in CANCELABLE:
            intent = await _call(
                lambda: self._intents.cancel_async(
                    reference, {}, {"idempotency_key": f"{_key_of(intent)}:cancel"}
                )
            )
        elif intent.status != "canceled":
            raise GatewayRequestError(f"intent {reference} is {intent.status}: cannot void it")
        return _charge_of(intent)

    async def refund(self, reference: str, amount: Money | None = None) -> GatewayCharge:
        """Refund the captured money (``amount``: part of it; this adapter only, the port
        refunds in full). Refunding what is already refunded refunds nothing more."""
        intent = await self._retrieve(reference)
        if intent.status != "succeeded":
            raise GatewayRequestError(f"intent {reference} is {intent.status}: nothing to refund")
        refunds = await _call(
            lambda: self._refunds.list_async({"payment_intent": reference, "limit": 100})
        )
        live = [r for r in refunds.data if r.status not in ("failed", "canceled")]
        refunded = sum(r.amount for r in live)
        if amount is None and refunded >= intent.amount_received and live:
            return _charge_of(intent, refund_id=live[0].id, refunded=True)
        key = f"{_key_of(intent)}:refund"
        wanted = None if amount is None else minor_units(amount)
        if wanted is not None:
            key = f"{key}:{wanted}"  # each distinct partial refund is a request of its own
        refund = await _call(
            lambda: self._refunds.create_async(
                {"payment_intent": reference, **({"amount": wanted} if wanted else {})},
                {"idempotency_key": key},
            )
        )
        fully = refunded + refund.amount >= intent.amount_received
        return _charge_of(intent, refund_id=refund.id, refunded=fully)

    async def find_charge(self, idempotency_key: str) -> GatewayCharge | None:
        """The intent recorded under ``idempotency_key``, if it holds or held money."""
        intent_id = await self._log.intent_for(idempotency_key)
        if intent_id is None:
            return None
        intent = await self._retrieve(intent_id)
        if intent.status in UNCONFIRMED or intent.status == "processing":
            return None
        if intent.status == "canceled" and intent.latest_charge is None:
            return None  # abandoned before any money was held
        refunded = False
        if intent.status == "succeeded":
            refunds = await _call(
                lambda: self._refunds.list_async({"payment_intent": intent_id, "limit": 100})
            )
            live = [r for r in refunds.data if r.status not in ("failed", "canceled")]
            refunded = bool(live) and sum(r.amount for r in live) >= intent.amount_received
            if refunded:
                return _charge_of(intent, refund_id=live[0].id, refunded=True)
        return _charge_of(intent)

    async def _retrieve(self, intent_id: str) -> stripe.PaymentIntent:
        return await _call(lambda: self._intents.retrieve_async(intent_id))


async def _call(request: Callable[[], Awaitable[T]]) -> T:
    try:
        return await request()
    except stripe.CardError as exc:
        decline_code = getattr(exc.error, "decline_code", None) if exc.error else None
        raise PaymentDeclinedError(
            exc.user_message or "your card was declined", decline_code or exc.code or "declined"
        ) from exc
    except stripe.IdempotencyError as exc:
        raise IdempotencyKeyReusedError(
            f"Stripe refused a reused idempotency key: {exc.user_message}"
        ) from exc
    except (stripe.RateLimitError, stripe.APIConnectionError) as exc:
        raise GatewayUnavailableError(f"Stripe unreachable or busy: {exc.user_message}") from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        # Not the request's fault: a revoked or wrong key, which an operator fixes.
        raise GatewayUnavailableError(
            f"Stripe refused the API key (ORDERS_PAYMENTS__STRIPE_SECRET_KEY): {exc.user_message}"
        ) from exc
    except stripe.InvalidRequestError as exc:
        raise GatewayRequestError(f"Stripe refused the request: {exc.user_message}") from exc
    except stripe.StripeError as exc:
        # APIError: 5xx, a lock conflict (409), anything Stripe says to retry.
        raise GatewayUnavailableError(
            f"Stripe failed (HTTP {exc.http_status}): {exc.user_message}"
        ) from exc


def _order_id(idempotency_key: str) -> str:
    return idempotency_key.removeprefix(ORDER_KEY_PREFIX)


def _metadata(intent: stripe.PaymentIntent, key: str) -> str:
    # metadata is a StripeObject typed for attribute access; its keys are plain dict keys.
    return str(intent.metadata[key]) if key in intent.metadata else ""


def _key_of(intent: stripe.PaymentIntent) -> str:
    return _metadata(intent, IDEMPOTENCY_KEY) or intent.id


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
    if action.type == "redirect_to_url" and action.redirect_to_url.url:
        return action.redirect_to_url.url
    # No return URL configured: the shop's page finishes it with Stripe.js.
    return f"stripe-js:{intent.client_secret}"


def _charge_of(
    intent: stripe.PaymentIntent, *, refund_id: str | None = None, refunded: bool = False
) -> GatewayCharge:
    status = {
        "succeeded": ChargeStatus.CAPTURED,
        "requires_capture": ChargeStatus.AUTHORIZED,
        "requires_action": ChargeStatus.REQUIRES_ACTION,
        "canceled": ChargeStatus.VOIDED,
    }.get(intent.status)
    if status is None:
        # "processing" (cards rarely): no answer yet, so ask again later.
        raise GatewayUnavailableError(f"intent {intent.id} is still {intent.status}")
    if refunded:
        status = ChargeStatus.REFUNDED
    return GatewayCharge(
        reference=intent.id,
        status=status,
        amount=from_minor_units(intent.amount, intent.currency),
        idempotency_key=_metadata(intent, IDEMPOTENCY_KEY),
        refund_reference=refund_id,
        next_action=_next_action(intent) if status is ChargeStatus.REQUIRES_ACTION else None,
    )
