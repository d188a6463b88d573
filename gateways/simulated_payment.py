"""A simulated payment provider, behaving like a real one where the saga cares.

It stands for an external service, and the provider's own database is its *ledger*:

- ``ledger_path=None`` (the default): the ledger lives in this gateway instance's memory and
  is lost with the process. Each instance is then a provider of its own, so two worker
  processes would not share it: fine for unit tests, wrong for several workers.
- ``ledger_path="…/payment-provider.sqlite3"``: the ledger is a SQLite file, and **that file
  stands for the provider's own database**. Every instance on the file -- in this process,
  in another worker process, in the worker started after one was killed -- talks to the one
  same provider, as real workers share one real provider: a retried charge meets the first
  charge's idempotency key, a refund finds a charge another process made.

  The file is in WAL mode (readers do not block the writer) and each request is processed
  in one ``BEGIN IMMEDIATE`` transaction: the write lock is taken before the idempotency key
  is read, so concurrent requests from any number of processes serialise as on a provider's
  database, and a request is applied entirely or not at all. ``synchronous=NORMAL``: a
  committed request survives the death of any process (only an OS crash could lose the
  last ones), which is the failure the simulation is for.

  The sqlite calls run in a thread (``asyncio.to_thread``), not on the event loop: a request
  is tiny, but ``BEGIN IMMEDIATE`` waits (up to the busy timeout) while another process
  holds the write lock, and waiting on the loop would stall everything else the worker
  does meanwhile (polling Temporal, other activities, heartbeats). Within a process the
  one connection is used by one request at a time (a lock). A request whose caller gives up
  (a cancelled activity) still completes in its thread -- as a request already sent does.

What it reproduces:
- idempotency: one charge per key; repeating the request answers with the first response
  (or the first decline); the same key with another amount, token or mode is refused;
  one refund per refund key, never forgotten: asked again under it, whatever the amount,
  the answer is the refund it made (the port's contract, which the Stripe adapter keeps by
  the refund's metadata);
- declines by test token, deterministic: ``tok_chargeDeclined``, ``tok_insufficientFunds``,
  ``tok_expiredCard`` and ``tok_lostCard`` decline; any other ``tok_…`` (``tok_visa``,
  ``tok_mastercard``) succeeds; a token not shaped like ``tok_…`` is declined as invalid;
- payments that need the customer: ``tok_threeDSecureRequired`` answers REQUIRES_ACTION
  with a ``next_action`` URL; ``complete_action`` plays the customer (authenticated: the
  charge captures or authorises as asked; failed: it is abandoned, VOIDED), and ``void``
  abandons it as the shop's timeout or cancel does;
- latency (asyncio.sleep), split in two: half before the request is processed (its trip to
  the provider) and half after (the response's trip back). A caller killed in the second
  half leaves a charge the provider made but the caller never heard of -- the case the
  idempotency key exists for, and the window a crash test aims at;
- a transient failure rate, and an ``outage`` switch for tests: such a request reaches no
  ledger (nothing is processed), after the first half of the latency. Both, like the
  ``calls`` counter, belong to the gateway instance (the client), not to the ledger.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gateways import provider_rules as rules
from gateways.payment_gateway import (
    ChargeStatus,
    GatewayCharge,
    GatewayRequestError,
    GatewayUnavailableError,
    PaymentGatewayError,
)
from gateways.provider_ledger import (
    Books,
    InMemoryLedger,
    Ledger,
    Request,
)
from gateways.provider_ledger_sqlite import SqliteLedger
from models.money import Money

T = TypeVar("T")

__all__ = [
    "Books",
    "InMemoryLedger",
    "Ledger",
    "SimulatedPaymentGateway",
    "SqliteLedger",
]


class SimulatedPaymentGateway:
    def __init__(
        self,
        *,
        latency_seconds: float = 0.0,
        failure_rate: float = 0.0,
        rng: random.Random | None = None,
        ledger_path: str | Path | None = None,
    ) -> None:
        """``ledger_path``: the SQLite file shared as the provider's database; None (or
        empty) keeps the ledger in this instance's memory."""
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be within [0, 1], got {failure_rate}")
        self._latency = latency_seconds
        self._failure_rate = failure_rate
        # Not for security: only decides which simulated requests fail.
        self._rng = rng or random.Random()  # noqa: S311
        self._down = False
        self._ledger: Ledger = SqliteLedger(ledger_path) if ledger_path else InMemoryLedger()
        self.calls = 0

    def outage(self, on: bool) -> None:
        """While on, every request fails with GatewayUnavailableError before it is processed."""
        self._down = on

    def charge_count(self, idempotency_key: str) -> int:
        """How many times money was actually taken (or held) under ``idempotency_key``,
        as the ledger (shared, when it is a file) records it."""
        return self._ledger.charge_count(idempotency_key)

    def refund_count(self, charge_reference: str) -> int:
        """How many refunds the provider made of one charge (a full one counts once)."""
        return self._ledger.refund_count(charge_reference)

    def close(self) -> None:
        """Let go of the ledger (its file stays: it is the provider's database)."""
        self._ledger.close()

    async def _request(self, process: Callable[[Books], T]) -> T:
        """One round trip: the way there, the provider processing atomically, the way back."""
        self.calls += 1
        half = self._latency / 2
        if half:
            await asyncio.sleep(half)
        try:
            if self._down:
                raise GatewayUnavailableError("payment provider unavailable (simulated outage)")
            if self._failure_rate and self._rng.random() < self._failure_rate:
                raise GatewayUnavailableError(
                    "payment provider timed out (simulated transient error)"
                )
            result = await self._ledger.transact(process)
        except PaymentGatewayError:
            if half:
                await asyncio.sleep(half)  # an error answer travels back too
            raise
        if half:
            await asyncio.sleep(half)
        return result

    async def charge(
        self, idempotency_key: str, amount: Money, token: str, *, capture: bool
    ) -> GatewayCharge:
        request = Request(amount, token, capture)
        return await self._request(lambda books: rules.charge_once(books, idempotency_key, request))

    async def capture(self, reference: str) -> GatewayCharge:
        return await self._request(
            lambda books: rules.move(
                books, reference, (ChargeStatus.AUTHORIZED,), ChargeStatus.CAPTURED
            )
        )

    async def refund(
        self, reference: str, amount: Money | None = None, *, idempotency_key: str | None = None
    ) -> GatewayCharge:
        return await self._request(
            lambda books: rules.refund_once(books, reference, amount, idempotency_key)
        )

    async def void(self, reference: str) -> GatewayCharge:
        return await self._request(
            lambda books: rules.move(books, reference, rules.VOIDABLE, ChargeStatus.VOIDED)
        )

    async def complete_action(self, reference: str, *, succeed: bool) -> GatewayCharge:
        """The customer's side of a charge waiting for them (for tests and demos): the
        provider would then report the outcome by webhook, which the caller sends."""

        def complete(books: Books) -> GatewayCharge:
            charge = books.charge(reference)
            entry = books.entry(charge.idempotency_key) if charge is not None else None
            if charge is None or entry is None:
                raise GatewayRequestError(f"no such charge: {reference}")
            done = rules.authenticated(entry.request.capture) if succeed else ChargeStatus.VOIDED
            return rules.move(books, reference, (ChargeStatus.REQUIRES_ACTION,), done)

        return await self._request(complete)

    async def find_charge(self, idempotency_key: str) -> GatewayCharge | None:
        return await self._request(lambda books: rules.find(books, idempotency_key))
