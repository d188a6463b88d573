"""The payment-gateway port, its errors, and the circuit breaker every adapter is wrapped in.

The port is shaped like a real card provider's API (Stripe, Adyen): a charge is keyed by an
idempotency key chosen by the caller, so a request repeated after a lost response charges
once; a charge either captures at once or only authorises, to be captured or voided later.

A charge whose outcome the provider does not know yet (Stripe's ``processing``) has no
status here: every call on it raises ChargeProcessingError, a GatewayUnavailableError, so
the caller is retried until the charge settles. It may still take the money, so it is
never answered as "no charge" (find_charge) nor as something that cannot be undone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar, cast

from circuitbreaker import CircuitBreaker

from models.money import Money

__all__ = [
    "ChargeProcessingError",
    "ChargeStatus",
    "CircuitBreakerGateway",
    "GatewayCharge",
    "GatewayRequestError",
    "GatewayUnavailableError",
    "IdempotencyKeyReusedError",
    "PaymentDeclinedError",
    "PaymentGateway",
    "PaymentGatewayError",
    "public_next_action",
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
    # What the refund named by refund_reference gave back (of a charge found refunded in
    # full, all of it): a refund answered from the past may not be for the amount asked.
    refund_amount: Money | None = None
    # With REQUIRES_ACTION: where the customer completes the payment (a URL the shop shows).
    next_action: str | None = None


def public_next_action(next_action: str | None) -> str | None:
    """What of a next action may be stored and published: a redirect URL as it is; a step
    the shop's page runs with a client secret (``stripe-js:<secret>``) by its kind only,
    because whoever holds the secret can complete the payment. The customer gets the whole
    value from the API (the saga's status), never from the events."""
    if next_action is None or next_action.startswith(("https://", "http://")):
        return next_action
    return next_action.partition(":")[0]


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


class ChargeProcessingError(GatewayUnavailableError):
    """The provider has not settled the charge yet (it may still take the money): ask
    again later. An answer from a healthy provider, so the circuit breaker does not count
    it."""


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

    async def refund(
        self, reference: str, amount: Money | None = None, *, idempotency_key: str | None = None
    ) -> GatewayCharge:
        """Give captured money back: in full (``amount`` None; refunding twice refunds once),
        or ``amount`` of it (an after-sale refund), once per ``idempotency_key``.

        One refund per key, for as long as the charge exists (not only while the provider
        remembers the key): asked again under it, whatever the amount, the answer is the
        refund the key made, with its ``refund_amount``. The whole charge asked back
        (``amount`` None or all of it) when its money is already back is answered REFUNDED,
        not refused. A partial refund leaves the charge CAPTURED until all of it is given
        back; the answer's ``refund_reference`` names the refund the key made."""
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
    an open circuit costs an activity attempt a microsecond, not a timeout. A decline, an
    invalid request or a charge still processing is an answer from a healthy provider and
    closes the circuit.
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
            expected_exception=_provider_failed,
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

    async def refund(
        self, reference: str, amount: Money | None = None, *, idempotency_key: str | None = None
    ) -> GatewayCharge:
        return await self._guarded(
            lambda: self._inner.refund(reference, amount, idempotency_key=idempotency_key)
        )

    async def void(self, reference: str) -> GatewayCharge:
        return await self._guarded(lambda: self._inner.void(reference))

    async def find_charge(self, idempotency_key: str) -> GatewayCharge | None:
        return await self._guarded(lambda: self._inner.find_charge(idempotency_key))


def _provider_failed(kind: type[BaseException], _: BaseException) -> bool:
    # A charge still processing is polled until it settles; counting each poll would open
    # the circuit for every other order while the provider is healthy.
    return issubclass(kind, GatewayUnavailableError) and not issubclass(kind, ChargeProcessingError)
