"""``python -m tools.reconcile`` reads the provider's own books (the simulated provider's
SQLite ledger) and lists every charge the database does not account for."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gateways.simulated_payment import SimulatedPaymentGateway
from models.money import Money
from tools import reconcile


async def test_reconcile_lists_the_ledgers_charges_the_database_does_not_know(
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ledger = tmp_path / "payment-provider.sqlite3"
    provider = SimulatedPaymentGateway(ledger_path=ledger)
    try:
        for order_id in ("lost-1", "lost-2"):
            await provider.charge(
                f"order-{order_id}", Money(Decimal("12.00"), "EUR"), "tok_visa", capture=True
            )
    finally:
        provider.close()
    assert {charge.idempotency_key for charge in reconcile.ledger_charges(ledger)} == {
        "order-lost-1",
        "order-lost-2",
    }

    monkeypatch.setenv("ORDERS_DATABASE__URL", pg_url)
    assert await reconcile.report(ledger) == 1
    lines = capsys.readouterr().out.splitlines()
    assert sorted(line.split(":")[0] for line in lines) == ["order lost-1", "order lost-2"]
    assert all(line.endswith("restored database: no such order") for line in lines)
