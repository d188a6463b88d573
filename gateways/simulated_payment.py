"""A payment provider simulated in memory, behaving like a real one where the saga cares.

It stands for an external service: its ledger lives in this process only and is lost on
restart, as if the provider were a different company. Several workers therefore do not
share it; each is a separate "provider". Good enough for dev and tests; a real adapter
implements the same port against the provider's HTTP API.

What it reproduces:
- idempotency: one charge per key; repeating the request answers with the first response
  (or the first decline); the same key with another amount, token or mode is refused;
- declines by test token, deterministic: ``tok_chargeDeclined``, ``tok_insufficientFunds``,
  ``tok_expiredCard`` and ``tok_lostCard`` decline; any other ``tok_…`` (``tok_visa``,
  ``tok_mastercard``) succeeds; a token not shaped like ``tok_…`` is declined as invalid;
- latency (asyncio.sleep), a transient failure rate, and an ``outage`` switch for tests.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, replace

from gateways.payment_gateway import (
    ChargeStatus,
    GatewayCharge,
    GatewayRequestError,
    GatewayUnavailableError,
    IdempotencyKeyReusedError,
    PaymentDeclinedError,
)
from models.money import Money

__all__ = ["DECLINING_TOKENS", "SimulatedPaymentGateway"]

# token -> (decline code, reason shown to the customer)
DECLINING_TOKENS: dict[str, tuple[str, str]] = {
    "tok_chargeDeclined": ("card_declined", "your card was declined"),
    "tok_insufficientFunds": ("insufficient_funds", "your card has insufficient funds"),
    "tok_expiredCard": ("expired_card", "your card has expired"),
    "tok_lostCard": ("lost_card", "your card was declined"),
}


@dataclass(frozen=True)
class _Request:
    amount: Money
    token: str
    capture: bool


@dataclass
class _Entry:
    request: _Request
    # The first answer, replayed for a repeated key: a charge, or a decline (code, reason).
    response: GatewayCharge | None
    decline: tuple[str, str] | None


class SimulatedPaymentGateway:
    def __init__(
        self,
        *,
        latency_seconds: float = 0.0,
        failure_rate: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be within [0, 1], got {failure_rate}")
        self._latency = latency_seconds
        self._failure_rate = failure_rate
        # Not for security: only decides which simulated requests fail.
        self._rng = rng or random.Random()  # noqa: S311
        self._down = False
        self._by_key: dict[str, _Entry] = {}
        self._charges: dict[str, GatewayCharge] = {}  # current state, by reference
        self._charge_counts: dict[str, int] = {}
        self.calls = 0

    def outage(self, on: bool) -> None:
        """While on, every request fails with GatewayUnavailableError before it is processed."""
        self._down = on

    def charge_count(self, idempotency_key: str) -> int:
        """How many times money was actually taken (or held) under ``idempotency_key``."""
        return self._charge_counts.get(idempotency_key, 0)

    async def _arrive(self) -> None:
        """The network and the provider's availability, before the request is processed."""
        self.calls += 1
        if self._latency:
            await asyncio.sleep(self._latency)
        if self._down:
            raise GatewayUnavailableError("payment provider unavailable (simulated outage)")
        if self._failure_rate and self._rng.random() < self._failure_rate:
            raise GatewayUnavailableError("payment provider timed out (simulated transient error)")

    async def charge(
        self, idempotency_key: str, amount: Money, token: str, *, capture: bool
    ) -> GatewayCharge:
        await self._arrive()
        # No await from here on: one request is processed atomically, as by a provider.
        request = _Request(amount, token, capture)
        seen = self._by_key.get(idempotency_key)
        if seen is not None:
            if seen.request != request:
                raise IdempotencyKeyReusedError(
                    f"idempotency key {idempotency_key!r} was used with other parameters"
                )
            if seen.decline is not None:
                raise _declined(seen.decline)
            assert seen.response is not None
            return seen.response
        decline = _decline_for(token)
        if decline is not None:
            self._by_key[idempotency_key] = _Entry(request, None, decline)
            raise _declined(decline)
        charge = GatewayCharge(
            reference=f"ch_{uuid.uuid4().hex}",
            status=ChargeStatus.CAPTURED if capture else ChargeStatus.AUTHORIZED,
            amount=amount,
            idempotency_key=idempotency_key,
        )
        self._by_key[idempotency_key] = _Entry(request, charge, None)
        self._charges[charge.reference] = charge
        self._charge_counts[idempotency_key] = self.charge_count(idempotency_key) + 1
        return charge

    async def capture(self, reference: str) -> GatewayCharge:
        await self._arrive()
        return self._move(reference, ChargeStatus.AUTHORIZED, ChargeStatus.CAPTURED)

    async def refund(self, reference: str) -> GatewayCharge:
        await self._arrive()
        return self._move(reference, ChargeStatus.CAPTURED, ChargeStatus.REFUNDED)

    async def void(self, reference: str) -> GatewayCharge:
        await self._arrive()
        return self._move(reference, ChargeStatus.AUTHORIZED, ChargeStatus.VOIDED)

    async def find_charge(self, idempotency_key: str) -> GatewayCharge | None:
        await self._arrive()
        seen = self._by_key.get(idempotency_key)
        if seen is None or seen.response is None:
            return None
        return self._charges[seen.response.reference]

    def _move(self, reference: str, source: ChargeStatus, target: ChargeStatus) -> GatewayCharge:
        charge = self._charges.get(reference)
        if charge is None:
            raise GatewayRequestError(f"no such charge: {reference}")
        if charge.status is target:
            return charge  # repeated request: the provider answers with the current state
        if charge.status is not source:
            raise GatewayRequestError(
                f"charge {reference} is {charge.status}, cannot become {target}"
            )
        refund_reference = f"re_{uuid.uuid4().hex}" if target is ChargeStatus.REFUNDED else None
        moved = replace(charge, status=target, refund_reference=refund_reference)
        self._charges[reference] = moved
        return moved


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
