"""``python -m tools.customer_action <order_id> succeed|fail``: play the customer of a
payment waiting in PAYMENT_PENDING, and the provider's webhook, with the simulated provider.

Completes (or fails) the customer's action at the provider -- the ledger file the dev stack
shares (``ORDERS_PAYMENTS__SIMULATED_LEDGER_PATH``) -- then sends the saga the signal the
webhook would: ``payment_succeeded`` or ``payment_failed``. For ``make dev`` demos and
tests; with a real provider the customer and the webhook do this.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from pathlib import Path

from temporalio.client import Client

from clients.temporal import connect_temporal
from config.dev_defaults import DEV_PROVIDER_LEDGER, RUN_DIR
from config.settings import Settings, load_settings
from gateways.simulated_payment import SimulatedPaymentGateway
from messages.queues import order_workflow_id
from messages.saga import PaymentOutcome
from persistence.payments import idempotency_key
from workflows.order_saga import OrderSaga

__all__ = ["complete_customer_action", "main"]


async def complete_customer_action(
    provider: SimulatedPaymentGateway, client: Client, order_id: str, *, succeed: bool
) -> PaymentOutcome:
    """Complete the order's waiting charge at ``provider`` and report it to the saga."""
    charge = await provider.find_charge(idempotency_key(order_id))
    if charge is None:
        raise LookupError(f"the provider holds no charge for order {order_id}")
    await provider.complete_action(charge.reference, succeed=succeed)
    outcome = PaymentOutcome(
        provider_event_id=f"evt_sim_{uuid.uuid4().hex}",
        reference=charge.reference,
        decline_code=None if succeed else "authentication_failed",
        reason=None if succeed else "the customer did not complete the authentication",
    )
    handle = client.get_workflow_handle(order_workflow_id(order_id))
    await handle.signal(
        OrderSaga.payment_succeeded if succeed else OrderSaga.payment_failed, outcome
    )
    return outcome


def _ledger(settings: Settings) -> str:
    # make dev's provider service keeps its ledger in the run folder; the ledger is a
    # SQLite file several processes share, so this one can play the customer on it.
    ledger = settings.payments.simulated_ledger_path or str(RUN_DIR / DEV_PROVIDER_LEDGER)
    if not Path(ledger).exists():
        raise SystemExit(
            f"no simulated provider ledger at {ledger}: set "
            "ORDERS_PAYMENTS__SIMULATED_LEDGER_PATH to the provider's ledger file"
        )
    return ledger


async def _run(settings: Settings, ledger: str, order_id: str, succeed: bool) -> None:
    provider = SimulatedPaymentGateway(ledger_path=ledger)
    try:
        client = await connect_temporal(settings.temporal)
        outcome = await complete_customer_action(provider, client, order_id, succeed=succeed)
    finally:
        provider.close()
    verb = "payment_succeeded" if succeed else "payment_failed"
    print(f"{verb} sent to {order_workflow_id(order_id)} ({outcome.provider_event_id})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("order_id")
    parser.add_argument("outcome", choices=["succeed", "fail"])
    args = parser.parse_args()
    settings = load_settings()
    asyncio.run(_run(settings, _ledger(settings), args.order_id, args.outcome == "succeed"))


if __name__ == "__main__":
    main()
