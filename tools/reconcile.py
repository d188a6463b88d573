"""After a restore: the provider's charges the restored database does not know, or knows
otherwise -- the orders whose money moved after the restore's target instant.

    python -m tools.reconcile --ledger .run/production/payment-provider.sqlite3

A restore to an earlier point takes the application's database and Temporal's back
together, but not the payment provider: a customer charged after the target has paid for an
order that neither the orders table nor any saga remembers. The provider's books are the
record that survived, so they are read whole and compared with the restored ``payments``
table, charge by charge (the order's charge key is ``order-<order id>``). Each finding is
recovery work for a person (docs/backup.md): refund the charge, or re-enter the order.

``--ledger`` reads the simulated provider's own database (its SQLite ledger); with a real
provider, export its charges for the period and compare with :func:`unknown_charges`.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import load_settings
from gateways.payment_gateway import ChargeStatus, GatewayCharge
from models.money import Money
from models.payment import PaymentStatus
from persistence.database import create_engine, session_factory
from persistence.tables import OrderRow, PaymentRow

KEY_PREFIX = "order-"
# What the payments row says once the saga has recorded the provider's answer.
_RECORDED_AS = {
    ChargeStatus.REQUIRES_ACTION: PaymentStatus.PENDING,
    ChargeStatus.AUTHORIZED: PaymentStatus.AUTHORIZED,
    ChargeStatus.CAPTURED: PaymentStatus.CAPTURED,
    ChargeStatus.REFUNDED: PaymentStatus.REFUNDED,
    ChargeStatus.VOIDED: PaymentStatus.VOIDED,
}


@dataclass(frozen=True)
class UnknownCharge:
    """A charge at the provider that the restored database does not account for."""

    order_id: str
    reference: str
    provider_status: ChargeStatus
    amount: Decimal
    currency: str
    # What the restored database holds: no order, an order without payment, or a payment
    # in another state.
    restored: str

    def line(self) -> str:
        return (
            f"order {self.order_id}: provider {self.provider_status} {self.amount} "
            f"{self.currency} ({self.reference}); restored database: {self.restored}"
        )


async def unknown_charges(
    engine: AsyncEngine, charges: Iterable[GatewayCharge]
) -> list[UnknownCharge]:
    """Every charge whose payment the database lacks or records in another state."""
    wanted = [charge for charge in charges if charge.idempotency_key.startswith(KEY_PREFIX)]
    keys = [charge.idempotency_key for charge in wanted]
    order_ids = [key.removeprefix(KEY_PREFIX) for key in keys]
    async with session_factory(engine)() as session:
        payments = await _payments(session, keys)
        orders = await _order_statuses(session, order_ids)
    found = []
    for charge in wanted:
        order_id = charge.idempotency_key.removeprefix(KEY_PREFIX)
        payment = payments.get(charge.idempotency_key)
        expected = _RECORDED_AS[charge.status]
        if payment is not None and payment[0] == expected and payment[1] == charge.reference:
            continue
        if payment is not None:
            restored = f"payment {payment[0]} ({payment[1] or 'no reference'})"
        elif order_id in orders:
            restored = f"order {orders[order_id]} without a payment"
        else:
            restored = "no such order"
        found.append(
            UnknownCharge(
                order_id,
                charge.reference,
                charge.status,
                charge.amount.amount,
                charge.amount.currency,
                restored,
            )
        )
    return found


async def _payments(session: AsyncSession, keys: list[str]) -> dict[str, tuple[str, str | None]]:
    rows = await session.exec(
        select(PaymentRow.idempotency_key, PaymentRow.status, PaymentRow.gateway_reference).where(
            col(PaymentRow.idempotency_key).in_(keys)
        )
    )
    return {key: (status, reference) for key, status, reference in rows.all()}


async def _order_statuses(session: AsyncSession, order_ids: list[str]) -> dict[str, str]:
    rows = await session.exec(
        select(OrderRow.id, OrderRow.status).where(col(OrderRow.id).in_(order_ids))
    )
    return dict(rows.all())


def ledger_charges(path: Path) -> list[GatewayCharge]:
    """Every charge in the simulated provider's SQLite ledger, read-only."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT reference, idempotency_key, status, amount, currency FROM charges"
        ).fetchall()
    return [
        GatewayCharge(
            reference=reference,
            status=ChargeStatus(status),
            amount=Money(Decimal(amount), currency),
            idempotency_key=key,
        )
        for reference, key, status, amount, currency in rows
    ]


async def report(ledger: Path) -> int:
    """Print every unknown charge; 1 when there is any (a script can stop on it)."""
    settings = load_settings()
    engine = create_engine(settings.database)
    try:
        found = await unknown_charges(engine, ledger_charges(ledger))
    finally:
        await engine.dispose()
    for item in found:
        print(item.line())
    print(f"{len(found)} charge(s) unknown to the database", file=sys.stderr)
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="List the provider's charges the (restored) database does not know."
    )
    parser.add_argument(
        "--ledger",
        type=Path,
        required=True,
        help="the simulated provider's SQLite ledger (its own database)",
    )
    args = parser.parse_args(argv)
    return asyncio.run(report(args.ledger))


if __name__ == "__main__":
    sys.exit(main())
