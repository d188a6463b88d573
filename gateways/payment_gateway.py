"""The payment-gateway port, its errors, and the circuit breaker every adapter is wrapped in.

The port is shaped like a real card provider's API (Stripe, Adyen): a charge is keyed by an
idempotency key chosen by the caller, so a request repeated after a lost response charges
once; a charge either captures at once or only authorises, to be captured or voided later.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

from circuitbreaker import CircuitBreaker

from config.settings import PaymentSettings
from models.money import Money

if TYPE_CHECKING:
    from gateways.stripe_gateway import IntentLog

__all__ = [
    "ChargeStatus",
    "CircuitBreakerGateway",
    "GatewayCharge",
    "GatewayRequestError",
    "GatewayUnavailableError",
    "IdempotencyKeyReusedError",
    "PaymentDeclinedError",
    "PaymentGateway",
    "PaymentGatewayError",
    "build_payment_gateway",
]

T = TypeVar("T")


class ChargeStatus(StrEnum):
    # The customer must act first (3-D Secure, a wallet, a bank redirect): the provider tells
    # the outcome later, by webhook, and the saga waits for it (PAYMENT_PENDING).
    REQUIRES_ACTION = "REQUIRES_ACTION"
    AUTHORIZED = "AUTHORIZED"
    CAPTURED = "CAPTURED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"


@dataclass(frozen=True)
class GatewayCharge:
    """The provider's view of one charge."""

    reference: str
    status: ChargeStatus
    amount: Money
    idempotency_key: str
    refund_reference: str | None = None
    # With REQUIRES_ACTION: where the customer completes the payment (a URL the shop shows).
    next_action: str | None = None


class PaymentGatewayError(Exception):
    """Anything the gateway answered with other than success."""


class PaymentDeclinedError(PaymentGatewayError):
    """The card was refused (a business outcome): asking again gets the same answer."""

    def __init__(self, reason: str, code: str = "card_declined") -> None:
        super().__init__(reason, code)
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return self.reason


class GatewayUnavailableError(PaymentGatewayError):
    """The provider could not be reached or failed (infrastructure): retry later."""


class GatewayRequestError(PaymentGatewayError):
    """The provider refused the request as invalid (e.g. refunding an authorisation):
    a bug on our side, so retrying it unchanged cannot help."""


class IdempotencyKeyReusedError(GatewayRequestError):
    """The same idempotency key with different parameters, which providers refuse."""


class PaymentGateway(Protocol):
    async def charge(
        self, idempotency_key: str, amount: Money, token: str, *, capture: bool
    ) -> GatewayCharge:
        """Charge (``capture=True``) or authorise ``amount``; the same key charges once and
        answers with the first result (or the first decline)."""
        ...

    async def capture(self, reference: str) -> GatewayCharge:
        """Take authorised money; capturing a captured charge returns it unchanged."""
        ...

    async def refund(self, reference: str) -> GatewayCharge:
        """Give captured money back in full; refunding twice refunds once."""
        ...

    async def void(self, reference: str) -> GatewayCharge:
        """Release an authorisation, or abandon a charge still waiting for the customer's
        action (REQUIRES_ACTION); voiding twice voids once."""
        ...

    async def find_charge(self, idempotency_key: str) -> GatewayCharge | None:
        """The charge made under ``idempotency_key`` as it stands now, if there is one."""
        ...


class CircuitBreakerGateway:
    """Fails fast while the provider is down, instead of every caller waiting for it.

    After ``failure_threshold`` consecutive GatewayUnavailableErrors the circuit opens and
    every call raises GatewayUnavailableError without reaching the provider, until
    ``recovery_seconds`` have passed; then calls go through again (half-open) and the first
    success closes it, a failure reopens it. Temporal's retry backoff does the waiting, so
    an open circuit costs an activity attempt a microsecond, not a timeout. A decline or an
    invalid request is an answer from a healthy provider and closes the circuit.
    """

    def __init__(
        self,
        inner: PaymentGateway,
        *,
        failure_threshold: int,
        recovery_seconds: float,
        name: str = "payment-gateway",
    ) -> None:
        self._inner = inner
        # circuitbreaker 2.1.3 wraps coroutines (call_async) but only its decorator checks
        # the open state, so the check is done here and the library keeps the counting.
        self._breaker = CircuitBreaker(
            failure_threshold=failure_threshold,
            recovery_timeout=recovery_seconds,
            expected_exception=GatewayUnavailableError,
            name=name,
        )

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"``."""
        return cast(str, self._breaker.state)

    async def _guarded(self, call: Callable[[], Awaitable[T]]) -> T:
        if self._breaker.opened:
            raise GatewayUnavailableError(
                f"payment gateway circuit open for {self._breaker.open_remaining}s more "
                f"after {self._breaker.failure_count} failures "
                f"(last: {self._breaker.last_failure})"
            )
        result = await self._breaker.call_async(call)
        return cast(T, result)

    async def charge(
        self, idempotency_key: str, amount: Money, token: str, *, capture: bool
    ) -> GatewayCharge:
        return await self._guarded(
            lambda: self._inner.charge(idempotency_key, amount, token, capture=capture)
        )

    async def capture(self, reference: str) -> GatewayCharge:
        return await self._guarded(lambda: self._inner.capture(reference))

    async def refund(self, reference: str) -> GatewayCharge:
        return await self._guarded(lambda: self._inner.refund(reference))

    async def void(self, reference: str) -> GatewayCharge:
        return await self._guarded(lambda: self._inner.void(reference))

    async def find_charge(self, idempotency_key: str) -> GatewayCharge | None:
        return await self._guarded(lambda: self._inner.find_charge(idempotency_key))


def build_payment_gateway(
    settings: PaymentSettings, *, intents: IntentLog | None = None
) -> PaymentGateway:
    """The configured provider (``settings.provider``) behind a circuit breaker.

    Stripe: needs ``intents``, where each intent's id is recorded as soon as it exists (see
    gateways/stripe_gateway.py). The simulated one: with ``provider_url`` set, the shared
    provider service over HTTP; else the in-process simulation, shared by every process
    only through ``simulated_ledger_path``."""
    # Imported here: the adapters implement this port and import it.
    inner: PaymentGateway
    if settings.provider == "stripe":
        from gateways.stripe_gateway import StripeGateway, build_stripe_client  # noqa: PLC0415

        if intents is None:
            raise ValueError("the Stripe gateway needs an intent log (the database)")
        client = build_stripe_client(
            settings.stripe_secret_key.get_secret_value(), api_base=settings.stripe_api_base
        )
        inner = StripeGateway(client, intents, return_url=settings.stripe_return_url)
    elif settings.provider_url:
        from gateways.http_payment import HttpPaymentGateway  # noqa: PLC0415

        inner = HttpPaymentGateway(
            settings.provider_url, timeout_seconds=settings.provider_timeout_seconds
        )
    else:
        from gateways.simulated_payment import SimulatedPaymentGateway  # noqa: PLC0415

        inner = SimulatedPaymentGateway(
            latency_seconds=settings.gateway_latency_ms / 1000,
            failure_rate=settings.gateway_failure_rate,
            ledger_path=settings.simulated_ledger_path or None,
        )
    return CircuitBreakerGateway(
        inner,
        failure_threshold=settings.breaker_failure_threshold,
        recovery_seconds=settings.breaker_recovery_seconds,
    )
