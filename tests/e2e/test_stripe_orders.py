"""Orders through the API with ORDERS_PAYMENTS__PROVIDER=stripe: the production workers
build the Stripe adapter from the settings and talk to the Stripe double over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.client import Client

from config.settings import PaymentSettings, TemporalSettings
from devstack.stripe_double import StripeDouble
from tests.e2e.harness import TERMINAL, Api, running_api
from tests.fixtures.stripe import TEST_SECRET_KEY
from tests.integration.saga_data import stock_of


@pytest.fixture
def double() -> Iterator[StripeDouble]:
    with StripeDouble() as running:
        yield running


def stripe_settings(double: StripeDouble) -> PaymentSettings:
    return PaymentSettings(
        provider="stripe",
        stripe_secret_key=SecretStr(TEST_SECRET_KEY),
        stripe_api_base=double.base_url,
        stripe_webhook_secret=SecretStr("whsec_test_orders"),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def stripe_api(
    pg_url: str,
    temporal_settings: TemporalSettings,
    temporal_client: Client,
    double: StripeDouble,
) -> AsyncIterator[Api]:
    async with running_api(
        pg_url, temporal_settings, temporal_client, payments=stripe_settings(double)
    ) as api:
        yield api


async def test_an_order_paid_through_stripe_is_confirmed(
    stripe_api: Api, double: StripeDouble
) -> None:
    order_id = (await stripe_api.place("alice", token="pm_card_visa")).json()["order_id"]

    order = await stripe_api.wait_for(order_id, "alice", TERMINAL)

    assert order["status"] == "CONFIRMED"
    assert order["payment"]["status"] == "CAPTURED"
    [intent] = double.state.ledger.intents.values()
    assert (intent["status"], intent["amount_received"], intent["currency"]) == (
        "succeeded",
        4980,
        "eur",
    )
    assert intent["metadata"]["order_id"] == order_id
    assert stripe_api.gateway.calls == 0  # the simulated provider was not used


async def test_a_declined_test_card_fails_the_payment_and_releases_the_stock(
    stripe_api: Api, double: StripeDouble
) -> None:
    response = await stripe_api.place("alice", token="pm_card_chargeDeclined")
    order = await stripe_api.wait_for(response.json()["order_id"], "alice", TERMINAL)

    assert order["status"] == "PAYMENT_FAILED"
    assert order["payment"]["status"] == "FAILED"
    assert order["failure_reason"] == "Your card was declined."
    stock = await stock_of(stripe_api.sessions, "sku-beans")
    assert (stock.quantity, stock.reserved) == (100, 0)
    assert [i["status"] for i in double.state.ledger.intents.values()] == [
        "requires_payment_method"
    ]


async def test_a_cancel_after_the_charge_refunds_once(
    pg_url: str,
    temporal_settings: TemporalSettings,
    temporal_client: Client,
    double: StripeDouble,
) -> None:
    """The cancel arrives while Stripe is confirming (a slow network): the charge goes
    through, then the compensation refunds it -- one refund of the whole amount."""
    double.state.latency_seconds = 1.0
    async with running_api(
        pg_url, temporal_settings, temporal_client, payments=stripe_settings(double)
    ) as api:
        order_id = (await api.place("alice", token="pm_card_visa")).json()["order_id"]
        for _ in range(200):  # until the confirm request is on its way to Stripe
            if any(path.endswith("/confirm") for _, path, _ in double.state.requests):
                break
            await asyncio.sleep(0.05)
        cancel = await api.http.post(
            f"/orders/{order_id}/cancel",
            json={"reason": "changed my mind"},
            headers=api.auth("alice"),
        )
        assert cancel.status_code == 202, cancel.text
        order = await api.wait_for(order_id, "alice", TERMINAL)

    assert order["status"] == "CANCELLED"
    assert order["payment"]["status"] == "REFUNDED"
    [intent] = double.state.ledger.intents.values()
    assert intent["status"] == "succeeded"
    refunds = list(double.state.ledger.refunds.values())
    assert [(r["payment_intent"], r["amount"]) for r in refunds] == [(intent["id"], 4980)]
