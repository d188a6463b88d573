"""The simulated payment provider behaves like a real one where the saga relies on it."""

from __future__ import annotations

import asyncio
import random

import pytest

from gateways.payment_gateway import (
    ChargeStatus,
    GatewayRequestError,
    GatewayUnavailableError,
    IdempotencyKeyReusedError,
    PaymentDeclinedError,
)
from gateways.simulated_payment import SimulatedPaymentGateway
from models import Money

TEN = Money.of("10.00", "EUR")


async def test_the_same_idempotency_key_charges_once_and_answers_the_same() -> None:
    """A repeated request is answered with the first charge, not charged again."""
    gateway = SimulatedPaymentGateway()

    first = await gateway.charge("order-1", TEN, "tok_visa", capture=True)
    second = await gateway.charge("order-1", TEN, "tok_visa", capture=True)

    assert second == first
    assert first.status is ChargeStatus.CAPTURED
    assert gateway.charge_count("order-1") == 1


async def test_another_key_is_another_charge() -> None:
    """Keys, not amounts or cards, identify a charge: two keys, two charges."""
    gateway = SimulatedPaymentGateway()

    one = await gateway.charge("order-1", TEN, "tok_mastercard", capture=True)
    two = await gateway.charge("order-2", TEN, "tok_mastercard", capture=True)

    assert one.reference != two.reference
    assert (gateway.charge_count("order-1"), gateway.charge_count("order-2")) == (1, 1)


async def test_a_reused_key_with_another_amount_is_refused() -> None:
    """As real providers do, a key reused with different parameters is an error."""
    gateway = SimulatedPaymentGateway()
    await gateway.charge("order-1", TEN, "tok_visa", capture=True)

    with pytest.raises(IdempotencyKeyReusedError):
        await gateway.charge("order-1", Money.of("11.00", "EUR"), "tok_visa", capture=True)
    assert gateway.charge_count("order-1") == 1


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tok_chargeDeclined", "card_declined"),
        ("tok_insufficientFunds", "insufficient_funds"),
        ("tok_expiredCard", "expired_card"),
        ("not-a-token", "invalid_token"),
    ],
)
async def test_test_tokens_decline_deterministically(token: str, code: str) -> None:
    """Each declining token is refused with its code, again for the same key, and no
    money moves."""
    gateway = SimulatedPaymentGateway()

    for _ in range(2):
        with pytest.raises(PaymentDeclinedError) as declined:
            await gateway.charge("order-1", TEN, token, capture=True)
        assert declined.value.code == code
    assert gateway.charge_count("order-1") == 0
    assert await gateway.find_charge("order-1") is None


@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard"])
async def test_good_test_tokens_succeed(token: str) -> None:
    """The usual test cards are charged."""
    charge = await SimulatedPaymentGateway().charge("order-1", TEN, token, capture=True)
    assert charge.status is ChargeStatus.CAPTURED


async def test_an_outage_fails_every_request_until_switched_off() -> None:
    """During an outage nothing is processed; afterwards the same request succeeds once."""
    gateway = SimulatedPaymentGateway()
    gateway.outage(on=True)

    with pytest.raises(GatewayUnavailableError):
        await gateway.charge("order-1", TEN, "tok_visa", capture=True)
    with pytest.raises(GatewayUnavailableError):
        await gateway.find_charge("order-1")
    gateway.outage(on=False)
    charge = await gateway.charge("order-1", TEN, "tok_visa", capture=True)

    assert charge.status is ChargeStatus.CAPTURED
    assert gateway.charge_count("order-1") == 1


async def test_the_failure_rate_fails_that_share_of_requests() -> None:
    """A failure rate of 0.5 fails about half of the requests, none processed."""
    # Seeded so the share is the same on every run; no security involved.
    gateway = SimulatedPaymentGateway(failure_rate=0.5, rng=random.Random(7))  # noqa: S311
    failures = 0
    for attempt in range(200):
        try:
            await gateway.charge(f"order-{attempt}", TEN, "tok_visa", capture=True)
        except GatewayUnavailableError:
            failures += 1
            assert gateway.charge_count(f"order-{attempt}") == 0
    assert 70 < failures < 130


async def test_an_authorisation_is_captured_or_voided_once() -> None:
    """Capture and void move an authorisation once; repeating answers with the state;
    refunding an authorisation or capturing a void is refused."""
    gateway = SimulatedPaymentGateway()
    held = await gateway.charge("order-1", TEN, "tok_visa", capture=False)
    other = await gateway.charge("order-2", TEN, "tok_visa", capture=False)

    assert held.status is ChargeStatus.AUTHORIZED
    with pytest.raises(GatewayRequestError):
        await gateway.refund(held.reference)
    captured = await gateway.capture(held.reference)
    assert await gateway.capture(held.reference) == captured
    voided = await gateway.void(other.reference)
    assert voided.status is ChargeStatus.VOIDED
    with pytest.raises(GatewayRequestError):
        await gateway.capture(other.reference)


async def test_a_refund_is_made_once() -> None:
    """Refunding twice refunds once: the same refund reference comes back."""
    gateway = SimulatedPaymentGateway()
    charge = await gateway.charge("order-1", TEN, "tok_visa", capture=True)

    first = await gateway.refund(charge.reference)
    second = await gateway.refund(charge.reference)

    assert first.status is ChargeStatus.REFUNDED
    assert first.refund_reference is not None
    assert second == first
    assert await gateway.find_charge("order-1") == first


async def test_latency_delays_each_request() -> None:
    """Configured latency is spent before the answer (asyncio.sleep, not blocking)."""
    gateway = SimulatedPaymentGateway(latency_seconds=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await gateway.charge("order-1", TEN, "tok_visa", capture=True)
    assert loop.time() - started >= 0.05
