"""The simulated provider's ledger: its own database, here in memory, or in a SQLite file
(gateways/provider_ledger_sqlite.py).

See gateways/simulated_payment.py for why a file ledger stands for the provider's database
and how requests on it serialise across processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, TypeVar

from gateways.payment_gateway import (
    ChargeStatus,
    GatewayCharge,
)
from models.money import Money

__all__ = [
    "ACTION_TOKENS",
    "Books",
    "Entry",
    "InMemoryLedger",
    "Ledger",
    "Refund",
    "Request",
    "action_url",
    "first_answer",
    "initial_status",
]

T = TypeVar("T")

# Tokens whose charge waits for the customer's action (3-D Secure), as Stripe's test cards.
ACTION_TOKENS = frozenset({"tok_threeDSecureRequired"})


@dataclass(frozen=True)
class Request:
    amount: Money
    token: str
    capture: bool


@dataclass(frozen=True)
class Refund:
    """One refund the provider made of a charge, under the caller's idempotency key."""

    charge_reference: str
    amount: Money
    refund_reference: str


@dataclass
class Entry:
    request: Request
    # The first answer, replayed for a repeated key: a charge, or a decline (code, reason).
    response: GatewayCharge | None
    decline: tuple[str, str] | None


class Books(Protocol):
    """The provider's records as one request sees them, inside its transaction."""

    def entry(self, idempotency_key: str) -> Entry | None: ...

    def record_entry(self, idempotency_key: str, entry: Entry) -> None: ...

    def charge(self, reference: str) -> GatewayCharge | None: ...

    def add_charge(self, charge: GatewayCharge) -> None: ...

    def update_charge(self, charge: GatewayCharge) -> None: ...

    def charge_count(self, idempotency_key: str) -> int: ...

    def refund(self, idempotency_key: str) -> Refund | None: ...

    def record_refund(self, idempotency_key: str, refund: Refund) -> None: ...

    def refunded(self, charge_reference: str) -> Decimal:
        """How much of the charge was given back so far."""
        ...


class Ledger(Protocol):
    """The provider's database: processes each request atomically against its books."""

    async def transact(self, process: Callable[[Books], T]) -> T:
        """Run ``process`` as one transaction: its writes stand if it returns or raises a
        PaymentGatewayError (an answer, e.g. a recorded decline), else none do."""
        ...

    def charge_count(self, idempotency_key: str) -> int:
        """How many charges were made under ``idempotency_key`` (blocking, for tests)."""
        ...

    def refund_count(self, charge_reference: str) -> int:
        """How many refunds were made of one charge (blocking, for tests)."""
        ...

    def close(self) -> None: ...


class InMemoryLedger:
    """Books in dicts of this process: one provider per instance."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._charges: dict[str, GatewayCharge] = {}  # current state, by reference
        self._charge_counts: dict[str, int] = {}
        self._refunds: dict[str, Refund] = {}

    async def transact(self, process: Callable[[Books], T]) -> T:
        # No await: one request is processed atomically on the event loop. Nothing is
        # written before the last check that can fail, so there is nothing to roll back.
        return process(self)

    def entry(self, idempotency_key: str) -> Entry | None:
        return self._entries.get(idempotency_key)

    def record_entry(self, idempotency_key: str, entry: Entry) -> None:
        self._entries[idempotency_key] = entry

    def charge(self, reference: str) -> GatewayCharge | None:
        return self._charges.get(reference)

    def add_charge(self, charge: GatewayCharge) -> None:
        self._charges[charge.reference] = charge
        key = charge.idempotency_key
        self._charge_counts[key] = self._charge_counts.get(key, 0) + 1

    def update_charge(self, charge: GatewayCharge) -> None:
        self._charges[charge.reference] = charge

    def charge_count(self, idempotency_key: str) -> int:
        return self._charge_counts.get(idempotency_key, 0)

    def refund(self, idempotency_key: str) -> Refund | None:
        return self._refunds.get(idempotency_key)

    def record_refund(self, idempotency_key: str, refund: Refund) -> None:
        self._refunds[idempotency_key] = refund

    def refund_count(self, charge_reference: str) -> int:
        return sum(1 for r in self._refunds.values() if r.charge_reference == charge_reference)

    def refunded(self, charge_reference: str) -> Decimal:
        return sum(
            (
                r.amount.amount
                for r in self._refunds.values()
                if r.charge_reference == charge_reference
            ),
            Decimal(0),
        )

    def close(self) -> None:
        pass


def initial_status(request: Request) -> ChargeStatus:
    if request.token in ACTION_TOKENS:
        return ChargeStatus.REQUIRES_ACTION
    return ChargeStatus.CAPTURED if request.capture else ChargeStatus.AUTHORIZED


def action_url(reference: str) -> str:
    """Where the customer completes a charge waiting for them (a page the shop links to)."""
    return f"https://payments.simulated.invalid/authenticate/{reference}"


def first_answer(request: Request, reference: str, idempotency_key: str) -> GatewayCharge:
    """A charge's first answer: fully determined by the request and its reference."""
    status = initial_status(request)
    return GatewayCharge(
        reference=reference,
        status=status,
        amount=request.amount,
        idempotency_key=idempotency_key,
        next_action=action_url(reference) if status is ChargeStatus.REQUIRES_ACTION else None,
    )
