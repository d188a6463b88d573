"""One contract for every PaymentGateway: the simulated provider, and the Stripe adapter
through the official SDK against the stateful Stripe double (over HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from devstack.stripe_double import StripeDouble
from gateways.payment_gateway import (
    ChargeStatus,
    IdempotencyKeyReusedError,
    PaymentDeclinedError,
    PaymentGateway,
)
from gateways.simulated_payment import SimulatedPaymentGateway
from gateways.stripe_gateway import StripeGateway, build_stripe_client
from models import Money
from persistence.payment_intents import SqlIntentLog
from tests.fixtures.stripe import TEST_SECRET_KEY

pytestmark = pytest.mark.integration

TEN = Money.of("10.00", "EUR")


@dataclass
class Provider:
    gateway: PaymentGateway
    good_card: str
    declining_card: str
    charges: Callable[[str], int]  # money taken or held under an order key
    refunds: Callable[[str], int]  # refunds made of one charge


@pytest_asyncio.fixture(loop_scope="session", params=["simulated", "stripe"])
async def provider(
    request: pytest.FixtureRequest,
    stripe_double: StripeDouble,
    intent_sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Provider]:
    if request.param == "simulated":
        simulated = SimulatedPaymentGateway()
        yield Provider(
            simulated,
            "tok_visa",
            "tok_chargeDeclined",
            simulated.charge_count,
            simulated.refund_count,
        )
        return
    ledger = stripe_double.state.ledger
    client = build_stripe_client(TEST_SECRET_KEY, api_base=stripe_double.base_url)
    yield Provider(
        StripeGateway(client, SqlIntentLog(intent_sessions)),
        "pm_card_visa",
        "pm_card_chargeDeclined",
        lambda key: sum(
            1
            for intent in ledger.intents.values()
            if intent["metadata"].get("idempotency_key") == key and intent["latest_charge"]
        ),
        lambda reference: len(ledger.refunds_of(reference)),
    )


async def test_a_charge_captures_the_amount(provider: Provider) -> None:
    charge = await provider.gateway.charge("order-c1", TEN, provider.good_card, capture=True)

    assert charge.status is ChargeStatus.CAPTURED
    assert charge.amount == TEN
    assert charge.reference
    assert provider.charges("order-c1") == 1


async def test_a_repeated_charge_charges_once(provider: Provider) -> None:
    first = await provider.gateway.charge("order-c2", TEN, provider.good_card, capture=True)
    again = await provider.gateway.charge("order-c2", TEN, provider.good_card, capture=True)

    assert again.reference == first.reference
    assert again.status is ChargeStatus.CAPTURED
    assert provider.charges("order-c2") == 1
    found = await provider.gateway.find_charge("order-c2")
    assert found is not None
    assert found.reference == first.reference


async def test_a_key_reused_with_another_amount_is_refused(provider: Provider) -> None:
    await provider.gateway.charge("order-c3", TEN, provider.good_card, capture=True)

    with pytest.raises(IdempotencyKeyReusedError):
        await provider.gateway.charge(
            "order-c3", Money.of("11.00", "EUR"), provider.good_card, capture=True
        )
    assert provider.charges("order-c3") == 1


async def test_a_declined_card_is_declined_again_and_takes_nothing(provider: Provider) -> None:
    for _ in range(2):
        with pytest.raises(PaymentDeclinedError) as declined:
            await provider.gateway.charge("order-d1", TEN, provider.declining_card, capture=True)
        assert declined.value.code
        assert declined.value.reason
    assert provider.charges("order-d1") == 0
    assert await provider.gateway.find_charge("order-d1") is None


async def test_an_authorisation_is_captured_once(provider: Provider) -> None:
    held = await provider.gateway.charge("order-a1", TEN, provider.good_card, capture=False)
    assert held.status is ChargeStatus.AUTHORIZED

    captured = await provider.gateway.capture(held.reference)
    again = await provider.gateway.capture(held.reference)

    assert captured.status is again.status is ChargeStatus.CAPTURED
    assert captured.reference == held.reference
    assert provider.charges("order-a1") == 1


async def test_an_authorisation_is_voided_once(provider: Provider) -> None:
    held = await provider.gateway.charge("order-v1", TEN, provider.good_card, capture=False)

    voided = await provider.gateway.void(held.reference)
    again = await provider.gateway.void(held.reference)

    assert voided.status is again.status is ChargeStatus.VOIDED
    assert provider.refunds(held.reference) == 0


async def test_a_refund_twice_refunds_once(provider: Provider) -> None:
    charge = await provider.gateway.charge("order-r1", TEN, provider.good_card, capture=True)

    refunded = await provider.gateway.refund(charge.reference)
    again = await provider.gateway.refund(charge.reference)

    assert refunded.status is again.status is ChargeStatus.REFUNDED
    assert refunded.refund_reference is not None
    assert again.refund_reference == refunded.refund_reference
    assert provider.refunds(charge.reference) == 1
    found = await provider.gateway.find_charge("order-r1")
    assert found is not None
    assert found.status is ChargeStatus.REFUNDED


async def test_a_refund_key_answers_with_its_one_refund_whatever_amount_is_asked(
    provider: Provider,
) -> None:
    """One refund per refund key: asked again under it, also for another amount (an
    after-sale refund started again with other lines), the provider answers with the
    refund it made, naming its amount, and gives nothing more back."""
    charge = await provider.gateway.charge("order-k1", TEN, provider.good_card, capture=True)
    four = Money.of("4.00", "EUR")

    first = await provider.gateway.refund(charge.reference, four, idempotency_key="refund-k1")
    again = await provider.gateway.refund(
        charge.reference, Money.of("6.00", "EUR"), idempotency_key="refund-k1"
    )

    assert first.status is again.status is ChargeStatus.CAPTURED
    assert first.refund_reference is not None
    assert again.refund_reference == first.refund_reference
    assert first.refund_amount == again.refund_amount == four
    assert provider.refunds(charge.reference) == 1


async def test_a_whole_refund_of_money_already_given_back_is_answered_as_refunded(
    provider: Provider,
) -> None:
    """The whole charge asked back, amount named (as an after-sale refund names it), when
    its money is already back: answered REFUNDED with the refund that gave it back --
    neither refused nor refunded again."""
    charge = await provider.gateway.charge("order-w1", TEN, provider.good_card, capture=True)
    refunded = await provider.gateway.refund(charge.reference)

    again = await provider.gateway.refund(charge.reference, TEN, idempotency_key="refund-w1")

    assert again.status is ChargeStatus.REFUNDED
    assert again.refund_reference == refunded.refund_reference
    assert again.refund_amount == TEN
    assert provider.refunds(charge.reference) == 1
