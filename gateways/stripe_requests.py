"""Every request the Stripe adapter sends, one method each, with its idempotency key.

Kept apart from the adapter's flow (gateways/stripe_gateway.py) so each request can be
checked on its own against stripe-mock, which validates shapes against Stripe's schema.
Keys are derived from the order's key and the step; Stripe's errors become the port's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

import stripe

from gateways.payment_gateway import (
    GatewayRequestError,
    GatewayUnavailableError,
    IdempotencyKeyReusedError,
    PaymentDeclinedError,
)
from models.money import Money

__all__ = [
    "IDEMPOTENCY_KEY",
    "ORDER_ID_KEY",
    "REFUND_KEY",
    "StripeRequests",
    "build_stripe_client",
    "from_minor_units",
    "minor_units",
]

T = TypeVar("T")

# The metadata every intent carries: the webhook finds the saga by the order id.
ORDER_ID_KEY = "order_id"
IDEMPOTENCY_KEY = "idempotency_key"
# The key a refund was made under, on the refund itself: Stripe forgets idempotency keys
# after 24 hours, a refund's metadata stays, so a refund is found by its key for good.
REFUND_KEY = "refund_key"
ORDER_KEY_PREFIX = "order-"
REQUEST_TIMEOUT_SECONDS = 20.0
REFUND_PAGE = 100

# ISO 4217 currencies Stripe counts in whole units (its "zero-decimal" list).
ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()  # noqa: SIM905
)


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


class StripeRequests:
    def __init__(self, client: stripe.StripeClient, *, return_url: str = "") -> None:
        self._intents = client.v1.payment_intents
        self._refunds = client.v1.refunds
        self._return_url = return_url

    async def create(
        self, idempotency_key: str, amount: Money, payment_method: str, *, capture: bool
    ) -> stripe.PaymentIntent:
        """A PaymentIntent with its payment method, not yet confirmed: no money moves."""
        return await _call(
            lambda: self._intents.create_async(
                {
                    "amount": minor_units(amount),
                    "currency": amount.currency.lower(),
                    "capture_method": "automatic" if capture else "manual",
                    "payment_method": payment_method,
                    # Cards, and no redirect-based methods: the saga has no customer's
                    # browser to send anywhere but to the 3-D Secure page.
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                    "metadata": {
                        ORDER_ID_KEY: idempotency_key.removeprefix(ORDER_KEY_PREFIX),
                        IDEMPOTENCY_KEY: idempotency_key,
                    },
                },
                {"idempotency_key": f"{idempotency_key}:create"},
            )
        )

    async def confirm(self, idempotency_key: str, intent_id: str) -> stripe.PaymentIntent:
        params: stripe.params.PaymentIntentConfirmParams = {}
        if self._return_url:
            params["return_url"] = self._return_url
        return await _call(
            lambda: self._intents.confirm_async(
                intent_id, params, {"idempotency_key": f"{idempotency_key}:confirm"}
            )
        )

    async def retrieve(self, intent_id: str) -> stripe.PaymentIntent:
        return await _call(lambda: self._intents.retrieve_async(intent_id))

    async def capture(self, idempotency_key: str, intent_id: str) -> stripe.PaymentIntent:
        return await _call(
            lambda: self._intents.capture_async(
                intent_id, {}, {"idempotency_key": f"{idempotency_key}:capture"}
            )
        )

    async def cancel(self, idempotency_key: str, intent_id: str) -> stripe.PaymentIntent:
        return await _call(
            lambda: self._intents.cancel_async(
                intent_id, {}, {"idempotency_key": f"{idempotency_key}:cancel"}
            )
        )

    async def refunds(self, intent_id: str) -> list[stripe.Refund]:
        """The intent's refunds that stand (not failed or canceled), newest first."""
        page = await _call(
            lambda: self._refunds.list_async({"payment_intent": intent_id, "limit": REFUND_PAGE})
        )
        return [r for r in page.data if r.status not in ("failed", "canceled")]

    async def refund(
        self, idempotency_key: str, intent_id: str, amount: Money | None = None
    ) -> stripe.Refund:
        """Refund the rest (``amount=None``) or ``amount``: one refund per key, which the
        refund carries in its metadata (``refund_key``). The amount stays out of Stripe's
        key, so the same key asked for another amount is refused, never a second refund."""
        params: stripe.params.RefundCreateParams = {
            "payment_intent": intent_id,
            "metadata": {REFUND_KEY: idempotency_key},
        }
        if amount is not None:
            params["amount"] = minor_units(amount)
        key = f"{idempotency_key}:refund"
        return await _call(lambda: self._refunds.create_async(params, {"idempotency_key": key}))


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
