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
- declines by test token, deterministic: ``tok_chargeDeclined``, ``tok_insufficientFunds``,
  ``tok_expiredCard`` and ``tok_lostCard`` decline; any other ``tok_…`` (``tok_visa``,
  ``tok_mastercard``) succeeds; a token not shaped like ``tok_…`` is declined as invalid;
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
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Protocol, TypeVar

from gateways.payment_gateway import (
    ChargeStatus,
    GatewayCharge,
    GatewayRequestError,
    GatewayUnavailableError,
    IdempotencyKeyReusedError,
    PaymentDeclinedError,
    PaymentGatewayError,
)
from models.money import Money

__all__ = [
    "DECLINING_TOKENS",
    "Books",
    "InMemoryLedger",
    "Ledger",
    "SimulatedPaymentGateway",
    "SqliteLedger",
]

T = TypeVar("T")

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


class Books(Protocol):
    """The provider's records as one request sees them, inside its transaction."""

    def entry(self, idempotency_key: str) -> _Entry | None: ...

    def record_entry(self, idempotency_key: str, entry: _Entry) -> None: ...

    def charge(self, reference: str) -> GatewayCharge | None: ...

    def add_charge(self, charge: GatewayCharge) -> None: ...

    def update_charge(self, charge: GatewayCharge) -> None: ...

    def charge_count(self, idempotency_key: str) -> int: ...


class Ledger(Protocol):
    """The provider's database: processes each request atomically against its books."""

    async def transact(self, process: Callable[[Books], T]) -> T:
        """Run ``process`` as one transaction: its writes stand if it returns or raises a
        PaymentGatewayError (an answer, e.g. a recorded decline), else none do."""
        ...

    def charge_count(self, idempotency_key: str) -> int:
        """How many charges were made under ``idempotency_key`` (blocking, for tests)."""
        ...

    def close(self) -> None: ...


class InMemoryLedger:
    """Books in dicts of this process: one provider per instance."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._charges: dict[str, GatewayCharge] = {}  # current state, by reference
        self._charge_counts: dict[str, int] = {}

    async def transact(self, process: Callable[[Books], T]) -> T:
        # No await: one request is processed atomically on the event loop. Nothing is
        # written before the last check that can fail, so there is nothing to roll back.
        return process(self)

    def entry(self, idempotency_key: str) -> _Entry | None:
        return self._entries.get(idempotency_key)

    def record_entry(self, idempotency_key: str, entry: _Entry) -> None:
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

    def close(self) -> None:
        pass


_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS requests (
        idempotency_key TEXT PRIMARY KEY,
        amount TEXT NOT NULL,
        currency TEXT NOT NULL,
        token TEXT NOT NULL,
        capture INTEGER NOT NULL,
        reference TEXT,
        decline_code TEXT,
        decline_reason TEXT
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS charges (
        reference TEXT PRIMARY KEY,
        idempotency_key TEXT NOT NULL,
        status TEXT NOT NULL,
        amount TEXT NOT NULL,
        currency TEXT NOT NULL,
        refund_reference TEXT
    )
    """,
    "CREATE INDEX IF NOT EXISTS charges_by_key ON charges (idempotency_key)",
)


class _SqliteBooks:
    """The books on a connection that is inside a ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def entry(self, idempotency_key: str) -> _Entry | None:
        row = self._conn.execute(
            "SELECT amount, currency, token, capture, reference, decline_code, decline_reason"
            " FROM requests WHERE idempotency_key = ?",
            (idempotency_key,),
        ).fetchone()
        if row is None:
            return None
        amount, currency, token, capture, reference, decline_code, decline_reason = row
        request = _Request(Money(Decimal(amount), currency), token, bool(capture))
        response = None
        if reference is not None:
            # The first answer is fully determined by the request and its reference.
            response = GatewayCharge(
                reference=reference,
                status=_initial_status(request.capture),
                amount=request.amount,
                idempotency_key=idempotency_key,
            )
        decline = None if decline_code is None else (decline_code, decline_reason)
        return _Entry(request, response, decline)

    def record_entry(self, idempotency_key: str, entry: _Entry) -> None:
        code, reason = entry.decline or (None, None)
        self._conn.execute(
            "INSERT INTO requests (idempotency_key, amount, currency, token, capture,"
            " reference, decline_code, decline_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                idempotency_key,
                str(entry.request.amount.amount),
                entry.request.amount.currency,
                entry.request.token,
                int(entry.request.capture),
                None if entry.response is None else entry.response.reference,
                code,
                reason,
            ),
        )

    def charge(self, reference: str) -> GatewayCharge | None:
        row = self._conn.execute(
            "SELECT idempotency_key, status, amount, currency, refund_reference"
            " FROM charges WHERE reference = ?",
            (reference,),
        ).fetchone()
        if row is None:
            return None
        key, status, amount, currency, refund_reference = row
        return GatewayCharge(
            reference=reference,
            status=ChargeStatus(status),
            amount=Money(Decimal(amount), currency),
            idempotency_key=key,
            refund_reference=refund_reference,
        )

    def add_charge(self, charge: GatewayCharge) -> None:
        self._conn.execute(
            "INSERT INTO charges (reference, idempotency_key, status, amount, currency,"
            " refund_reference) VALUES (?, ?, ?, ?, ?, ?)",
            (
                charge.reference,
                charge.idempotency_key,
                charge.status.value,
                str(charge.amount.amount),
                charge.amount.currency,
                charge.refund_reference,
            ),
        )

    def update_charge(self, charge: GatewayCharge) -> None:
        self._conn.execute(
            "UPDATE charges SET status = ?, refund_reference = ? WHERE reference = ?",
            (charge.status.value, charge.refund_reference, charge.reference),
        )

    def charge_count(self, idempotency_key: str) -> int:
        return _count(self._conn, idempotency_key)


def _count(conn: sqlite3.Connection, idempotency_key: str) -> int:
    row = conn.execute(
        "SELECT COUNT(*) FROM charges WHERE idempotency_key = ?", (idempotency_key,)
    ).fetchone()
    return int(row[0])


class SqliteLedger:
    """Books in a SQLite file shared by every process that opens it: one provider."""

    def __init__(self, path: str | Path, *, busy_timeout_seconds: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode (isolation_level=None): transactions are begun explicitly.
        # check_same_thread=False: requests run in worker threads, one at a time (the lock).
        self._conn = sqlite3.connect(
            self.path,
            timeout=busy_timeout_seconds,
            isolation_level=None,
            check_same_thread=False,
        )
        self._lock = threading.Lock()
        try:
            self._prepare()
        except BaseException:
            self._conn.close()
            raise

    def _prepare(self) -> None:
        """WAL and the schema; safe when several processes open a new file at once."""
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"{self.path}: cannot use WAL (journal mode {mode})")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            self._conn.execute(statement)
        self._conn.execute("COMMIT")

    async def transact(self, process: Callable[[Books], T]) -> T:
        return await asyncio.to_thread(self._transact, process)

    def _transact(self, process: Callable[[Books], T]) -> T:
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = process(_SqliteBooks(conn))
                except PaymentGatewayError:
                    # An answer, not a failure: what the request recorded (a decline) stands.
                    conn.execute("COMMIT")
                    raise
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                # The provider's database is busy or failing: a 5xx, so retried by callers.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise GatewayUnavailableError(f"payment provider failed: {exc}") from exc
            return result

    def charge_count(self, idempotency_key: str) -> int:
        with self._lock:
            return _count(self._conn, idempotency_key)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


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
        request = _Request(amount, token, capture)
        return await self._request(lambda books: _charge(books, idempotency_key, request))

    async def capture(self, reference: str) -> GatewayCharge:
        return await self._request(
            lambda books: _move(books, reference, ChargeStatus.AUTHORIZED, ChargeStatus.CAPTURED)
        )

    async def refund(self, reference: str) -> GatewayCharge:
        return await self._request(
            lambda books: _move(books, reference, ChargeStatus.CAPTURED, ChargeStatus.REFUNDED)
        )

    async def void(self, reference: str) -> GatewayCharge:
        return await self._request(
            lambda books: _move(books, reference, ChargeStatus.AUTHORIZED, ChargeStatus.VOIDED)
        )

    async def find_charge(self, idempotency_key: str) -> GatewayCharge | None:
        return await self._request(lambda books: _find(books, idempotency_key))


def _charge(books: Books, idempotency_key: str, request: _Request) -> GatewayCharge:
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
        books.record_entry(idempotency_key, _Entry(request, None, decline))
        raise _declined(decline)
    charge = GatewayCharge(
        reference=f"ch_{uuid.uuid4().hex}",
        status=_initial_status(request.capture),
        amount=request.amount,
        idempotency_key=idempotency_key,
    )
    books.add_charge(charge)
    books.record_entry(idempotency_key, _Entry(request, charge, None))
    return charge


def _find(books: Books, idempotency_key: str) -> GatewayCharge | None:
    seen = books.entry(idempotency_key)
    if seen is None or seen.response is None:
        return None
    return books.charge(seen.response.reference)


def _move(
    books: Books, reference: str, source: ChargeStatus, target: ChargeStatus
) -> GatewayCharge:
    charge = books.charge(reference)
    if charge is None:
        raise GatewayRequestError(f"no such charge: {reference}")
    if charge.status is target:
        return charge  # repeated request: the provider answers with the current state
    if charge.status is not source:
        raise GatewayRequestError(f"charge {reference} is {charge.status}, cannot become {target}")
    refund_reference = f"re_{uuid.uuid4().hex}" if target is ChargeStatus.REFUNDED else None
    moved = replace(charge, status=target, refund_reference=refund_reference)
    books.update_charge(moved)
    return moved


def _initial_status(capture: bool) -> ChargeStatus:
    return ChargeStatus.CAPTURED if capture else ChargeStatus.AUTHORIZED


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
