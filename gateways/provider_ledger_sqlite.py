"""The simulated provider's ledger in a SQLite file, which every process on the file shares.

See gateways/simulated_payment.py for why a file ledger stands for the provider's database
and how requests on it serialise across processes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from gateways.payment_gateway import (
    ChargeStatus,
    GatewayCharge,
    GatewayUnavailableError,
    PaymentGatewayError,
)
from gateways.provider_ledger import (
    Books,
    Entry,
    Refund,
    Request,
    action_url,
    first_answer,
)
from models.money import Money

__all__ = ["SqliteLedger"]

T = TypeVar("T")


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
    """
    CREATE TABLE IF NOT EXISTS refunds (
        idempotency_key TEXT PRIMARY KEY,
        charge_reference TEXT NOT NULL,
        amount TEXT NOT NULL,
        currency TEXT NOT NULL,
        refund_reference TEXT NOT NULL
    )
    """,
)


class _SqliteBooks:
    """The books on a connection that is inside a ``BEGIN IMMEDIATE`` transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def entry(self, idempotency_key: str) -> Entry | None:
        row = self._conn.execute(
            "SELECT amount, currency, token, capture, reference, decline_code, decline_reason"
            " FROM requests WHERE idempotency_key = ?",
            (idempotency_key,),
        ).fetchone()
        if row is None:
            return None
        amount, currency, token, capture, reference, decline_code, decline_reason = row
        request = Request(Money(Decimal(amount), currency), token, bool(capture))
        response = None
        if reference is not None:
            response = first_answer(request, reference, idempotency_key)
        decline = None if decline_code is None else (decline_code, decline_reason)
        return Entry(request, response, decline)

    def record_entry(self, idempotency_key: str, entry: Entry) -> None:
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
        waiting = status == ChargeStatus.REQUIRES_ACTION
        return GatewayCharge(
            reference=reference,
            status=ChargeStatus(status),
            amount=Money(Decimal(amount), currency),
            idempotency_key=key,
            refund_reference=refund_reference,
            next_action=action_url(reference) if waiting else None,
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

    def refund(self, idempotency_key: str) -> Refund | None:
        row = self._conn.execute(
            "SELECT charge_reference, amount, currency, refund_reference"
            " FROM refunds WHERE idempotency_key = ?",
            (idempotency_key,),
        ).fetchone()
        if row is None:
            return None
        reference, amount, currency, refund_reference = row
        return Refund(reference, Money(Decimal(amount), currency), refund_reference)

    def record_refund(self, idempotency_key: str, refund: Refund) -> None:
        self._conn.execute(
            "INSERT INTO refunds (idempotency_key, charge_reference, amount, currency,"
            " refund_reference) VALUES (?, ?, ?, ?, ?)",
            (
                idempotency_key,
                refund.charge_reference,
                str(refund.amount.amount),
                refund.amount.currency,
                refund.refund_reference,
            ),
        )

    def refunded(self, charge_reference: str) -> Decimal:
        rows = self._conn.execute(
            "SELECT amount FROM refunds WHERE charge_reference = ?", (charge_reference,)
        ).fetchall()
        return sum((Decimal(amount) for (amount,) in rows), Decimal(0))


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

    def refund_count(self, charge_reference: str) -> int:
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM refunds WHERE charge_reference = ?", (charge_reference,)
            ).fetchone()
            return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
