"""A Stripe intent left ``processing`` has no outcome yet: the adapter never reports it as
"no charge" (nor as anything final) but as GatewayUnavailableError, so the saga's step or
compensation is retried until the intent settles, and then undoes what it really holds."""

from __future__ import annotations

import httpx
import pytest

from activities.payments import PaymentActivities
from devstack.stripe_double import StripeDouble
from gateways.payment_gateway import (
    ChargeProcessingError,
    CircuitBreakerGateway,
    GatewayUnavailableError,
)
from messages.activities import RefundPaymentInput
from models import Money
from tests.integration.saga_data import Sessions
from tests.integration.test_payment_activities import (
    charge_of,
    key_of,
    payment_row,
    reserved_order,
)
from tests.integration.test_stripe_payments import gateway_on

pytestmark = pytest.mark.integration

PROCESSING_CARD = "pm_card_processing"


async def settle(double: StripeDouble, intent_id: str, outcome: str = "succeed") -> None:
    async with httpx.AsyncClient(base_url=double.base_url) as client:
        answer = await client.post(
            f"/_test/payment_intents/{intent_id}/settle", data={"outcome": outcome}
        )
        answer.raise_for_status()


def only_intent(double: StripeDouble) -> str:
    [intent_id] = double.state.ledger.intents
    return intent_id


async def test_a_processing_intent_is_neither_found_absent_nor_voided(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """charge, find_charge and void on a processing intent all answer "ask again later"
    (GatewayUnavailableError), none of them "nothing taken" or "cannot void"."""
    gateway = gateway_on(stripe_double, pg_sessions)

    with pytest.raises(GatewayUnavailableError, match="processing"):
        await gateway.charge("order-pr1", Money.of("10.00", "EUR"), PROCESSING_CARD, capture=True)
    intent_id = only_intent(stripe_double)
    with pytest.raises(GatewayUnavailableError, match="processing"):
        await gateway.find_charge("order-pr1")
    with pytest.raises(GatewayUnavailableError, match="processing"):
        await gateway.void(intent_id)

    assert stripe_double.state.ledger.intents[intent_id]["status"] == "processing"


async def test_the_compensation_waits_for_a_processing_intent_then_refunds_it(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """The charge step left the intent processing (no payment recorded) and the order is
    being cancelled: the compensation does not answer NOTHING_TO_REFUND but is retried;
    once the intent succeeds, it refunds that money once and records it."""
    gateway = gateway_on(stripe_double, pg_sessions)
    payments = PaymentActivities(pg_sessions, gateway)
    order = await reserved_order(pg_sessions, token=PROCESSING_CARD)
    with pytest.raises(GatewayUnavailableError):
        await payments.charge_payment(charge_of(order))
    intent_id = only_intent(stripe_double)
    refund = RefundPaymentInput(order_id=order.order_id, reason="cancelled")

    with pytest.raises(GatewayUnavailableError, match="processing"):
        await payments.refund_payment(refund)
    await settle(stripe_double, intent_id)
    result = await payments.refund_payment(refund)

    assert result.outcome == "REFUNDED"
    assert [r["amount"] for r in stripe_double.state.ledger.refunds_of(intent_id)] == [2500]
    row = await payment_row(pg_sessions, order.order_id)
    assert row is not None
    assert (row.status, row.gateway_reference, row.idempotency_key) == (
        "REFUNDED",
        intent_id,
        key_of(order),
    )


async def test_polling_a_processing_intent_does_not_open_the_circuit(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """ "Still processing" is an answer from a healthy provider: however often a retry
    asks, the circuit breaker stays closed for every other order."""
    gateway = CircuitBreakerGateway(
        gateway_on(stripe_double, pg_sessions), failure_threshold=3, recovery_seconds=60
    )
    with pytest.raises(ChargeProcessingError):
        await gateway.charge("order-pr2", Money.of("10.00", "EUR"), PROCESSING_CARD, capture=True)

    for _ in range(5):
        with pytest.raises(ChargeProcessingError):
            await gateway.find_charge("order-pr2")

    assert gateway.state == "closed"
