"""Every request the Stripe adapter sends is valid against Stripe's API, as stripe-mock
(Stripe's schema-checking mock, started from its Go build) judges it through the real SDK
and HTTP stack; each POST carries an idempotency key of its own."""

from __future__ import annotations

from typing import Any, cast

import pytest
import stripe

from gateways.stripe_requests import StripeRequests, build_stripe_client
from models import Money
from tests.fixtures.stripe import TEST_SECRET_KEY, RecordingHTTPXClient

pytestmark = pytest.mark.integration

TEN = Money.of("10.00", "EUR")


async def test_every_adapter_request_is_accepted_by_stripe_mock(stripe_mock_url: str) -> None:
    http = RecordingHTTPXClient()
    client = build_stripe_client(TEST_SECRET_KEY, api_base=stripe_mock_url, http_client=http)
    requests = StripeRequests(client, return_url="https://shop.example/return")
    key = "order-7f1c"

    created = await requests.create(key, TEN, "pm_card_visa", capture=False)
    intent = created.id
    await requests.confirm(key, intent)
    await requests.retrieve(intent)
    await requests.capture(key, intent)
    await requests.cancel(key, intent)
    await requests.refunds(intent)
    await requests.refund(key, intent)
    await requests.refund("refund-7f1c", intent, Money.of("2.50", "EUR"))

    sent = [
        (method, url.removeprefix(stripe_mock_url).split("?")[0]) for method, url, _ in http.sent
    ]
    assert sent == [
        ("POST", "/v1/payment_intents"),
        ("POST", f"/v1/payment_intents/{intent}/confirm"),
        ("GET", f"/v1/payment_intents/{intent}"),
        ("POST", f"/v1/payment_intents/{intent}/capture"),
        ("POST", f"/v1/payment_intents/{intent}/cancel"),
        ("GET", "/v1/refunds"),
        ("POST", "/v1/refunds"),
        ("POST", "/v1/refunds"),
    ]
    keys = http.idempotency_keys()
    assert keys == [
        f"{key}:create",
        f"{key}:confirm",
        f"{key}:capture",
        f"{key}:cancel",
        f"{key}:refund",
        "refund-7f1c:refund",
    ]
    assert len(set(keys)) == len(keys)
    assert all(h["Authorization"] == f"Bearer {TEST_SECRET_KEY}" for _, _, h in http.sent)


async def test_stripe_mock_refuses_a_request_off_the_schema(stripe_mock_url: str) -> None:
    """The check above is not vacuous: stripe-mock refuses what Stripe would (here an
    unknown capture method and an unknown parameter)."""
    client = build_stripe_client(TEST_SECRET_KEY, api_base=stripe_mock_url)

    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.payment_intents.create_async(
            {"amount": 1000, "currency": "eur", "capture_method": "sometimes"}
        )
    with pytest.raises(stripe.InvalidRequestError):
        await client.v1.refunds.create_async(
            cast(Any, {"payment_intent": "pi_123", "refund_everything": "yes"})
        )
