"""The payment activities with the Stripe adapter, on PostgreSQL and the Stripe double:
the intent recorded before it is confirmed is what every later attempt continues, also
once Stripe has forgotten the idempotency keys (after 24 hours)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError

from activities.payments import PaymentActivities
from devstack.stripe_double import StripeDouble
from gateways.payment_gateway import ChargeStatus
from gateways.stripe_gateway import StripeGateway, build_stripe_client
from gateways.stripe_requests import StripeRequests
from messages import errors
from messages.activities import CapturePaymentInput, RefundPaymentInput
from models import Money
from persistence.payment_intents import SqlIntentLog
from tests.fixtures.stripe import TEST_SECRET_KEY
from tests.integration.saga_data import Sessions, event_types
from tests.integration.test_payment_activities import (
    charge_of,
    key_of,
    payment_row,
    reserved_order,
)

pytestmark = pytest.mark.integration

DAY_AND_AN_HOUR = 25 * 3600


def gateway_on(double: StripeDouble, sessions: Sessions) -> StripeGateway:
    client = build_stripe_client(TEST_SECRET_KEY, api_base=double.base_url)
    return StripeGateway(client, SqlIntentLog(sessions))


def charges_at_stripe(double: StripeDouble, key: str) -> list[str]:
    """The intents made under ``key`` that took or hold money."""
    return [
        intent_id
        for intent_id, intent in double.state.ledger.intents.items()
        if intent["metadata"].get("idempotency_key") == key and intent["latest_charge"]
    ]


async def test_a_charge_recorded_nowhere_is_continued_a_day_later(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """The attempt died after Stripe charged and before the payments row was written;
    the retry comes after Stripe forgot the keys (25 h later): it finds the intent in the
    intent log and records that charge. One intent, one charge."""
    gateway = gateway_on(stripe_double, pg_sessions)
    order = await reserved_order(pg_sessions, token="pm_card_visa")
    lost = await gateway.charge(
        key_of(order), Money(order.total, "EUR"), order.payment.token, capture=True
    )
    assert await payment_row(pg_sessions, order.order_id) is None
    stripe_double.state.clock.advance(DAY_AND_AN_HOUR)
    assert stripe_double.state.keys.replay(f"{key_of(order)}:create", "", {}) is None

    result = await PaymentActivities(pg_sessions, gateway).charge_payment(charge_of(order))

    assert (result.status, result.gateway_reference) == ("CAPTURED", lost.reference)
    assert charges_at_stripe(stripe_double, key_of(order)) == [lost.reference]
    assert len(stripe_double.state.ledger.intents) == 1


async def test_an_intent_created_but_not_confirmed_is_confirmed_by_the_retry(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """Killed between create and confirm: the retry confirms that intent, not a new one."""
    gateway = gateway_on(stripe_double, pg_sessions)
    order = await reserved_order(pg_sessions, token="pm_card_visa")
    requests = StripeRequests(build_stripe_client(TEST_SECRET_KEY, api_base=stripe_double.base_url))
    created = await requests.create(
        key_of(order), Money(order.total, "EUR"), "pm_card_visa", capture=True
    )
    await SqlIntentLog(pg_sessions).remember(key_of(order), created.id)

    result = await PaymentActivities(pg_sessions, gateway).charge_payment(charge_of(order))

    assert (result.status, result.gateway_reference) == ("CAPTURED", created.id)
    assert charges_at_stripe(stripe_double, key_of(order)) == [created.id]


async def test_the_compensation_refunds_an_unrecorded_charge_once(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """refund_payment with no payments row finds the intent through the intent log (no
    lookup by idempotency key at Stripe), refunds it once and records it."""
    gateway = gateway_on(stripe_double, pg_sessions)
    payments = PaymentActivities(pg_sessions, gateway)
    order = await reserved_order(pg_sessions, token="pm_card_visa")
    lost = await gateway.charge(
        key_of(order), Money(order.total, "EUR"), order.payment.token, capture=True
    )
    stripe_double.state.clock.advance(DAY_AND_AN_HOUR)

    first = await payments.refund_payment(RefundPaymentInput(order_id=order.order_id, reason="x"))
    again = await payments.refund_payment(RefundPaymentInput(order_id=order.order_id, reason="x"))

    assert first.outcome == again.outcome == "REFUNDED"
    refunds = list(stripe_double.state.ledger.refunds.values())
    assert [(r["payment_intent"], r["amount"]) for r in refunds] == [(lost.reference, 2500)]
    row = await payment_row(pg_sessions, order.order_id)
    assert row is not None
    assert (row.status, row.gateway_reference, row.amount) == (
        "REFUNDED",
        lost.reference,
        Decimal("25.00"),
    )
    assert (await event_types(pg_sessions, order.order_id))[-2:] == [
        "PaymentProcessed",
        "PaymentRefunded",
    ]


async def test_a_declined_test_card_fails_the_payment_for_good(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    payments = PaymentActivities(pg_sessions, gateway_on(stripe_double, pg_sessions))
    order = await reserved_order(pg_sessions, token="pm_card_chargeDeclinedInsufficientFunds")

    for _ in range(2):
        with pytest.raises(ApplicationError) as declined:
            await payments.charge_payment(charge_of(order))
        assert declined.value.type == errors.PAYMENT_DECLINED
        assert declined.value.non_retryable

    row = await payment_row(pg_sessions, order.order_id)
    assert row is not None
    assert row.status == "FAILED"
    assert charges_at_stripe(stripe_double, key_of(order)) == []
    confirms = [r for r in stripe_double.state.requests if r[1].endswith("/confirm")]
    assert len(confirms) == 1


async def test_authorise_then_capture_through_stripe(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    payments = PaymentActivities(pg_sessions, gateway_on(stripe_double, pg_sessions))
    order = await reserved_order(pg_sessions, token="pm_card_mastercard")

    held = await payments.charge_payment(charge_of(order, capture=False))
    captured = await payments.capture_payment(CapturePaymentInput(order_id=order.order_id))

    assert held.status == "AUTHORIZED"
    assert captured.status == "CAPTURED"
    assert captured.gateway_reference is not None
    intent = stripe_double.state.ledger.intents[captured.gateway_reference]
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 2500)
    assert intent["metadata"]["order_id"] == order.order_id


async def test_a_payment_needing_3ds_waits_and_can_be_abandoned(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """requires_action: REQUIRES_ACTION with the page the customer must visit; void
    abandons it (the intent is canceled, nothing was taken)."""
    client = build_stripe_client(TEST_SECRET_KEY, api_base=stripe_double.base_url)
    gateway = StripeGateway(
        client, SqlIntentLog(pg_sessions), return_url="https://shop.example/paid"
    )

    waiting = await gateway.charge(
        "order-3ds", Money.of("10.00", "EUR"), "pm_card_threeDSecure2Required", capture=True
    )
    abandoned = await gateway.void(waiting.reference)

    assert waiting.status is ChargeStatus.REQUIRES_ACTION
    assert waiting.next_action == f"{stripe_double.base_url}/_test/3ds/{waiting.reference}"
    assert abandoned.status is ChargeStatus.VOIDED
    assert stripe_double.state.ledger.intents[waiting.reference]["status"] == "canceled"
    assert await gateway.find_charge("order-3ds") is None


async def test_the_compensation_abandons_an_unrecorded_payment_waiting_for_3ds(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """The charge step left an intent waiting for the customer and no row: the
    compensation cancels the intent (it can no longer succeed) and records only the fence
    against a late charge (VOIDED, naming no charge)."""
    gateway = gateway_on(stripe_double, pg_sessions)
    order = await reserved_order(pg_sessions, token="pm_card_threeDSecure2Required")
    waiting = await gateway.charge(
        key_of(order), Money(order.total, "EUR"), order.payment.token, capture=True
    )

    result = await PaymentActivities(pg_sessions, gateway).refund_payment(
        RefundPaymentInput(order_id=order.order_id, reason="customer never authenticated")
    )

    assert waiting.status is ChargeStatus.REQUIRES_ACTION
    assert result.outcome == "NOTHING_TO_REFUND"
    assert stripe_double.state.ledger.intents[waiting.reference]["status"] == "canceled"
    fence = await payment_row(pg_sessions, order.order_id)
    assert fence is not None
    assert (fence.status, fence.gateway_reference) == ("VOIDED", None)


async def test_the_compensation_refunds_a_capture_recorded_as_an_authorisation(
    pg_sessions: Sessions, stripe_double: StripeDouble
) -> None:
    """Authorise-then-capture, parked at capture: Stripe captured but the record was lost,
    then the order was cancelled. Stripe refuses to cancel a succeeded intent, so the
    compensation asks for the intent's state and refunds it, once, recording REFUNDED."""
    gateway = gateway_on(stripe_double, pg_sessions)
    payments = PaymentActivities(pg_sessions, gateway)
    order = await reserved_order(pg_sessions, token="pm_card_visa")
    held = await payments.charge_payment(charge_of(order, capture=False))
    assert held.gateway_reference is not None
    await gateway.capture(held.gateway_reference)

    result = await payments.refund_payment(
        RefundPaymentInput(order_id=order.order_id, reason="cancelled")
    )

    assert result.outcome == "REFUNDED"
    refunds = list(stripe_double.state.ledger.refunds.values())
    assert [(r["payment_intent"], r["amount"]) for r in refunds] == [(held.gateway_reference, 2500)]
    row = await payment_row(pg_sessions, order.order_id)
    assert row is not None
    assert row.status == "REFUNDED"
