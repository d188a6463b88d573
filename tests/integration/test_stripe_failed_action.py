"""A failed 3-D Secure recorded with the Stripe adapter, on PostgreSQL and the Stripe
double: Stripe leaves the intent open for another card (``requires_payment_method``), so
recording the failure cancels it -- and gives the money back had the customer paid it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from activities.payments import PaymentActivities
from devstack.stripe_double import StripeDouble
from messages.activities import RecordPaymentOutcomeInput
from tests.fixtures.stripe import TEST_SECRET_KEY
from tests.integration.saga_data import Sessions, event_types
from tests.integration.test_payment_activities import charge_of, payment_row, reserved_order
from tests.integration.test_stripe_payments import gateway_on

pytestmark = pytest.mark.integration

THREE_D_SECURE = "pm_card_threeDSecure2Required"


async def post(double: StripeDouble, path: str, data: dict[str, str]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TEST_SECRET_KEY}"}
    async with httpx.AsyncClient(base_url=double.base_url, headers=headers) as client:
        return await client.post(path, data=data)


async def failed_authentication(
    sessions: Sessions, double: StripeDouble
) -> tuple[PaymentActivities, RecordPaymentOutcomeInput, dict[str, Any]]:
    """A recorded payment waiting for 3-D Secure, the customer failing it, and the
    failure report the webhook would make; the intent as the double holds it."""
    payments = PaymentActivities(sessions, gateway_on(double, sessions))
    order = await reserved_order(sessions, token=THREE_D_SECURE)
    waiting = await payments.charge_payment(charge_of(order))
    assert waiting.gateway_reference is not None
    failed = await post(
        double,
        f"/_test/payment_intents/{waiting.gateway_reference}/authenticate",
        {"outcome": "fail"},
    )
    assert failed.status_code == 200, failed.text
    report = RecordPaymentOutcomeInput(
        order_id=order.order_id,
        succeeded=False,
        provider_event_id="evt_failed",
        reference=waiting.gateway_reference,
        reason="The customer failed to authenticate this payment.",
    )
    return payments, report, double.state.ledger.intents[waiting.gateway_reference]


def cancels(double: StripeDouble, intent_id: str) -> int:
    return sum(
        1
        for _, path, _ in double.state.requests
        if path == f"/v1/payment_intents/{intent_id}/cancel"
    )


async def test_a_failed_authentication_cancels_the_intent_once(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """Payment FAILED, one PaymentFailed, the intent canceled (one cancel request for two
    runs of the activity); another card on it afterwards is refused, nothing taken."""
    payments, report, intent = await failed_authentication(pg_sessions, stripe_double)
    assert intent["status"] == "requires_payment_method"

    first = await payments.record_payment_outcome(report)
    second = await payments.record_payment_outcome(report)
    late = await post(
        stripe_double,
        f"/v1/payment_intents/{report.reference}/confirm",
        {"payment_method": "pm_card_visa"},
    )
    payment = await payment_row(pg_sessions, report.order_id)
    timeline = await event_types(pg_sessions, report.order_id)

    assert first.status == second.status == "FAILED"
    assert payment is not None
    assert payment.failure_reason == report.reason
    assert intent["status"] == "canceled"
    assert cancels(stripe_double, report.reference) == 1
    assert late.status_code == 400, late.text
    assert stripe_double.state.ledger.charges == 0
    assert timeline.count("PaymentFailed") == 1
    assert "PaymentVoided" not in timeline


async def test_an_intent_paid_with_another_card_before_the_failure_is_recorded_is_refunded(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """The customer paid the open intent with another card before the failure report was
    recorded: the money is refunded once, the payment REFUNDED, taken and refunded in
    the timeline."""
    payments, report, intent = await failed_authentication(pg_sessions, stripe_double)
    paid = await post(
        stripe_double,
        f"/v1/payment_intents/{report.reference}/confirm",
        {"payment_method": "pm_card_visa"},
    )
    assert paid.status_code == 200, paid.text

    first = await payments.record_payment_outcome(report)
    second = await payments.record_payment_outcome(report)
    refunds = stripe_double.state.ledger.refunds_of(intent["id"])
    timeline = await event_types(pg_sessions, report.order_id)

    assert first.status == second.status == "REFUNDED"
    assert intent["status"] == "succeeded"
    assert [r["amount"] for r in refunds] == [intent["amount"]]
    assert (timeline.count("PaymentProcessed"), timeline.count("PaymentRefunded")) == (1, 1)
    assert "PaymentFailed" not in timeline
