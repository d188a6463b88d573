"""The Stripe double keeps Stripe's documented semantics where the adapter relies on them:
idempotency keys (replay, mismatch, 24-hour expiry), the intent state machine, refunds,
and webhooks signed so that the official SDK verifies them."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
import stripe

from devstack.process import free_port
from devstack.stripe_double import StripeDouble
from tests.fixtures.stripe import TEST_SECRET_KEY

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {TEST_SECRET_KEY}"}
INTENT = {"amount": "1000", "currency": "eur", "payment_method": "pm_card_visa"}


def post(double: StripeDouble, path: str, data: dict[str, str], key: str | None = None) -> Any:
    headers = AUTH | ({"Idempotency-Key": key} if key else {})
    return httpx.post(f"{double.base_url}{path}", data=data, headers=headers)


def test_the_same_key_and_parameters_replay_the_first_answer(
    stripe_double: StripeDouble,
) -> None:
    first = post(stripe_double, "/v1/payment_intents", INTENT, key="k1")
    again = post(stripe_double, "/v1/payment_intents", INTENT, key="k1")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(stripe_double.state.ledger.intents) == 1


def test_a_declined_answer_is_replayed_too(stripe_double: StripeDouble) -> None:
    intent = post(
        stripe_double, "/v1/payment_intents", INTENT | {"payment_method": "pm_card_chargeDeclined"}
    ).json()
    first = post(stripe_double, f"/v1/payment_intents/{intent['id']}/confirm", {}, key="c1")
    again = post(stripe_double, f"/v1/payment_intents/{intent['id']}/confirm", {}, key="c1")

    assert first.status_code == again.status_code == 402
    assert first.json()["error"]["decline_code"] == "generic_decline"
    assert again.json() == first.json()


def test_the_same_key_with_other_parameters_is_an_idempotency_error(
    stripe_double: StripeDouble,
) -> None:
    post(stripe_double, "/v1/payment_intents", INTENT, key="k2")
    other = post(stripe_double, "/v1/payment_intents", INTENT | {"amount": "2000"}, key="k2")

    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    assert len(stripe_double.state.ledger.intents) == 1


def test_keys_are_forgotten_after_24_hours(stripe_double: StripeDouble) -> None:
    first = post(stripe_double, "/v1/payment_intents", INTENT, key="k3").json()
    stripe_double.state.clock.advance(23 * 3600)
    within = post(stripe_double, "/v1/payment_intents", INTENT, key="k3").json()
    stripe_double.state.clock.advance(2 * 3600)
    after = post(stripe_double, "/v1/payment_intents", INTENT, key="k3").json()

    assert within["id"] == first["id"]
    assert after["id"] != first["id"]
    assert len(stripe_double.state.ledger.intents) == 2


def test_the_intent_state_machine_refuses_moves_stripe_refuses(
    stripe_double: StripeDouble,
) -> None:
    intent = post(stripe_double, "/v1/payment_intents", INTENT).json()
    assert intent["status"] == "requires_confirmation"
    early = post(stripe_double, f"/v1/payment_intents/{intent['id']}/capture", {})
    confirmed = post(stripe_double, f"/v1/payment_intents/{intent['id']}/confirm", {}).json()
    cancel = post(stripe_double, f"/v1/payment_intents/{intent['id']}/cancel", {})
    too_much = post(
        stripe_double, "/v1/refunds", {"payment_intent": intent["id"], "amount": "1001"}
    )
    part = post(stripe_double, "/v1/refunds", {"payment_intent": intent["id"], "amount": "400"})
    rest = post(stripe_double, "/v1/refunds", {"payment_intent": intent["id"]})
    more = post(stripe_double, "/v1/refunds", {"payment_intent": intent["id"]})

    assert early.json()["error"]["code"] == "payment_intent_unexpected_state"
    assert (confirmed["status"], confirmed["amount_received"]) == ("succeeded", 1000)
    assert cancel.json()["error"]["code"] == "payment_intent_unexpected_state"
    assert too_much.json()["error"]["code"] == "amount_too_large"
    assert (part.json()["amount"], rest.json()["amount"]) == (400, 600)
    assert more.json()["error"]["code"] == "charge_already_refunded"


def test_requests_need_a_secret_key(stripe_double: StripeDouble) -> None:
    answer = httpx.get(f"{stripe_double.base_url}/v1/payment_intents/pi_1")
    assert answer.status_code == 401


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[bytes, str]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, self.headers["Stripe-Signature"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[bytes, str]]]]:
    received: list[tuple[bytes, str]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    thread.join()


async def test_events_are_delivered_signed_as_stripe_signs_them(
    receiver: tuple[str, list[tuple[bytes, str]]],
) -> None:
    """A 3-D Secure payment completed by the customer: the double POSTs
    payment_intent.succeeded to the endpoint, and the SDK verifies its signature with the
    endpoint's secret (and refuses it with another)."""
    url, received = receiver
    with StripeDouble(webhook_url=url, webhook_secret="whsec_hook") as double:
        intent = post(
            double,
            "/v1/payment_intents",
            INTENT | {"payment_method": "pm_card_threeDSecure2Required", "confirm": "true"},
        ).json()
        assert intent["status"] == "requires_action"
        post(double, f"/_test/payment_intents/{intent['id']}/authenticate", {"outcome": "succeed"})
        for _ in range(100):
            if any(json.loads(body)["type"] == "payment_intent.succeeded" for body, _ in received):
                break
            await asyncio.sleep(0.05)

    events = [stripe.Webhook.construct_event(body, sig, "whsec_hook") for body, sig in received]
    # Stripe does not promise an order of delivery, nor does the double.
    assert sorted(e.type for e in events) == [
        "payment_intent.created",
        "payment_intent.requires_action",
        "payment_intent.succeeded",
    ]
    assert {e.data.object["id"] for e in events} == {intent["id"]}
    body, signature = received[-1]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, signature, "whsec_other")


def test_a_processing_payment_gets_its_outcome_later(stripe_double: StripeDouble) -> None:
    """``pm_card_processing`` leaves the confirmed intent processing, with a charge and no
    money received, until a test settles it: succeeded, or back to a payment method."""
    paid, failed = (
        post(
            stripe_double,
            "/v1/payment_intents",
            INTENT | {"payment_method": "pm_card_processing", "confirm": "true"},
        ).json()
        for _ in range(2)
    )
    early_refund = post(stripe_double, "/v1/refunds", {"payment_intent": paid["id"]})

    settled = post(stripe_double, f"/_test/payment_intents/{paid['id']}/settle", {}).json()
    refused = post(
        stripe_double, f"/_test/payment_intents/{failed['id']}/settle", {"outcome": "fail"}
    ).json()

    assert (paid["status"], paid["amount_received"]) == ("processing", 0)
    assert paid["latest_charge"]
    assert early_refund.json()["error"]["code"] == "charge_not_refundable"
    assert (settled["status"], settled["amount_received"]) == ("succeeded", 1000)
    assert settled["latest_charge"] == paid["latest_charge"]
    assert refused["status"] == "requires_payment_method"
    assert refused["last_payment_error"]["code"] == "card_declined"
