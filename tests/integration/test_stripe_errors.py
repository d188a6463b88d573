"""Stripe's failures mapped onto the saga's rules, through the SDK and the Stripe double:
outages are retryable (and open the circuit breaker), a reused key is not."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import PaymentSettings
from devstack.process import free_port
from devstack.stripe_double import StripeDouble
from gateways.factory import build_payment_gateway
from gateways.payment_gateway import (
    CircuitBreakerGateway,
    GatewayRequestError,
    GatewayUnavailableError,
    IdempotencyKeyReusedError,
)
from gateways.stripe_requests import StripeRequests, build_stripe_client
from models import Money
from persistence.payment_intents import SqlIntentLog
from tests.fixtures.stripe import TEST_SECRET_KEY

pytestmark = pytest.mark.integration

TEN = Money.of("10.00", "EUR")


def requests_on(double: StripeDouble) -> StripeRequests:
    return StripeRequests(build_stripe_client(TEST_SECRET_KEY, api_base=double.base_url))


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_rate_limits_and_server_errors_are_retryable(
    stripe_double: StripeDouble, status: int
) -> None:
    stripe_double.state.faults.append(status)

    with pytest.raises(GatewayUnavailableError):
        await requests_on(stripe_double).create("order-e1", TEN, "pm_card_visa", capture=True)
    # The retry, once Stripe is back, goes through with the same key.
    created = await requests_on(stripe_double).create("order-e1", TEN, "pm_card_visa", capture=True)
    assert created.status == "requires_confirmation"


async def test_an_unreachable_stripe_is_retryable() -> None:
    client = build_stripe_client(TEST_SECRET_KEY, api_base=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(GatewayUnavailableError, match="unreachable"):
        await StripeRequests(client).retrieve("pi_123")


async def test_a_key_reused_with_other_parameters_is_not_retryable(
    stripe_double: StripeDouble,
) -> None:
    """Stripe answers idempotency_error: IdempotencyKeyReusedError, a GatewayRequestError
    (the activity turns it into a non-retryable failure)."""
    requests = requests_on(stripe_double)
    await requests.create("order-e2", TEN, "pm_card_visa", capture=True)

    with pytest.raises(IdempotencyKeyReusedError, match="idempotency") as refused:
        await requests.create("order-e2", Money.of("12.00", "EUR"), "pm_card_visa", capture=True)
    assert isinstance(refused.value, GatewayRequestError)
    assert len(stripe_double.state.ledger.intents) == 1


async def test_an_invalid_request_is_not_retryable(stripe_double: StripeDouble) -> None:
    with pytest.raises(GatewayRequestError, match="No such PaymentMethod"):
        await requests_on(stripe_double).create("order-e3", TEN, "pm_card_nope", capture=True)


async def test_the_breaker_wraps_stripe_and_opens_on_outages(
    stripe_double: StripeDouble, intent_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """build_payment_gateway(provider=stripe): the Stripe adapter inside the circuit
    breaker; after the threshold of outages it fails fast without calling Stripe."""
    settings = PaymentSettings(
        provider="stripe",
        stripe_secret_key=SecretStr(TEST_SECRET_KEY),
        stripe_api_base=stripe_double.base_url,
        stripe_webhook_secret=SecretStr("whsec_x"),
        breaker_failure_threshold=2,
        breaker_recovery_seconds=60,
    )
    gateway = build_payment_gateway(settings, intents=SqlIntentLog(intent_sessions))
    assert isinstance(gateway, CircuitBreakerGateway)
    stripe_double.state.faults += [500, 500]

    for _ in range(2):
        with pytest.raises(GatewayUnavailableError):
            await gateway.charge("order-e4", TEN, "pm_card_visa", capture=True)
    sent = len(stripe_double.state.requests)
    with pytest.raises(GatewayUnavailableError, match="circuit open"):
        await gateway.charge("order-e4", TEN, "pm_card_visa", capture=True)

    assert gateway.state == "open"
    assert len(stripe_double.state.requests) == sent


def test_the_stripe_gateway_needs_an_intent_log() -> None:
    settings = PaymentSettings(
        provider="stripe",
        stripe_secret_key=SecretStr(TEST_SECRET_KEY),
        stripe_webhook_secret=SecretStr("whsec_x"),
    )
    with pytest.raises(ValueError, match="intent log"):
        build_payment_gateway(settings)
