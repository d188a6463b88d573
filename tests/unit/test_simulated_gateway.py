"""The simulated payment provider behaves like a real one where the saga relies on it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import PaymentSettings
from gateways.factory import build_payment_gateway
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


async def test_latency_is_split_around_the_processing() -> None:
    """Half the latency is the request's trip, half the response's: the charge is taken
    while the caller is still waiting for its answer (the window a crash can hit)."""
    gateway = SimulatedPaymentGateway(latency_seconds=0.6)

    pending = asyncio.create_task(gateway.charge("order-1", TEN, "tok_visa", capture=True))
    await asyncio.sleep(0.1)
    assert gateway.charge_count("order-1") == 0  # still on its way there
    await asyncio.sleep(0.35)
    assert gateway.charge_count("order-1") == 1  # processed ...
    assert not pending.done()  # ... and the answer still on its way back
    assert (await pending).status is ChargeStatus.CAPTURED


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "provider" / "payment-provider.sqlite3"


@pytest.fixture
def shared(ledger_path: Path) -> Iterator[tuple[SimulatedPaymentGateway, SimulatedPaymentGateway]]:
    """Two gateways, as two worker processes would hold them, on one ledger file."""
    one = SimulatedPaymentGateway(ledger_path=ledger_path)
    two = SimulatedPaymentGateway(ledger_path=ledger_path)
    yield one, two
    one.close()
    two.close()


async def test_gateways_on_one_ledger_file_share_charges(
    shared: tuple[SimulatedPaymentGateway, SimulatedPaymentGateway],
) -> None:
    """A charge made through one instance is found, answered to a repeat without charging
    again, and refunded through the other; both read the same charge count."""
    one, two = shared
    charge = await one.charge("order-1", TEN, "tok_visa", capture=True)

    assert await two.find_charge("order-1") == charge
    assert await two.charge("order-1", TEN, "tok_visa", capture=True) == charge
    refunded = await two.refund(charge.reference)
    assert refunded.status is ChargeStatus.REFUNDED
    assert await one.refund(charge.reference) == refunded
    assert await one.find_charge("order-1") == refunded
    # The repeated charge answers with the first response, as the in-memory ledger does.
    assert await one.charge("order-1", TEN, "tok_visa", capture=True) == charge
    assert (one.charge_count("order-1"), two.charge_count("order-1")) == (1, 1)
    with pytest.raises(IdempotencyKeyReusedError):
        await two.charge("order-1", TEN, "tok_visa", capture=False)


async def test_the_ledger_file_outlives_its_gateways(ledger_path: Path) -> None:
    """The file is the provider's database: a gateway opened after the first is gone (a
    worker restarted after a crash) finds the charge, and finds no charge to refund twice."""
    first = SimulatedPaymentGateway(ledger_path=ledger_path)
    held = await first.charge("order-1", TEN, "tok_visa", capture=False)
    first.close()

    later = SimulatedPaymentGateway(ledger_path=ledger_path)
    try:
        assert await later.charge("order-1", TEN, "tok_visa", capture=False) == held
        captured = await later.capture(held.reference)
        assert captured.status is ChargeStatus.CAPTURED
        assert captured.amount == TEN
        with pytest.raises(GatewayRequestError, match="no such charge"):
            await later.refund("ch_unknown")
        assert later.charge_count("order-1") == 1
    finally:
        later.close()


async def test_declines_are_shared_through_the_ledger_file(
    shared: tuple[SimulatedPaymentGateway, SimulatedPaymentGateway],
) -> None:
    """A decline recorded through one instance is replayed by the other, money untouched."""
    one, two = shared
    with pytest.raises(PaymentDeclinedError):
        await one.charge("order-1", TEN, "tok_insufficientFunds", capture=True)
    with pytest.raises(PaymentDeclinedError) as again:
        await two.charge("order-1", TEN, "tok_insufficientFunds", capture=True)

    assert again.value.code == "insufficient_funds"
    assert await two.find_charge("order-1") is None
    assert one.charge_count("order-1") == 0


async def test_concurrent_requests_on_one_ledger_file_charge_once(ledger_path: Path) -> None:
    """Eight instances (eight connections, requests in threads) racing with one key: the
    BEGIN IMMEDIATE transactions serialise, one charge is made and every racer gets it."""
    gateways = [SimulatedPaymentGateway(ledger_path=ledger_path) for _ in range(8)]
    try:
        answers = await asyncio.gather(
            *(g.charge("order-1", TEN, "tok_visa", capture=True) for g in gateways)
        )
        assert len({answer.reference for answer in answers}) == 1
        assert gateways[0].charge_count("order-1") == 1
    finally:
        for gateway in gateways:
            gateway.close()


async def test_an_outage_of_one_instance_processes_nothing(
    shared: tuple[SimulatedPaymentGateway, SimulatedPaymentGateway],
) -> None:
    """The outage switch belongs to the instance: its requests reach no ledger."""
    one, two = shared
    one.outage(on=True)

    with pytest.raises(GatewayUnavailableError):
        await one.charge("order-1", TEN, "tok_visa", capture=True)
    assert two.charge_count("order-1") == 0
    assert (await two.charge("order-1", TEN, "tok_visa", capture=True)).status is (
        ChargeStatus.CAPTURED
    )


async def test_build_payment_gateway_uses_the_configured_ledger(ledger_path: Path) -> None:
    """With ``simulated_ledger_path`` set, the gateway a worker builds charges into that
    file, where any other gateway on it sees the charge."""
    built = build_payment_gateway(PaymentSettings(simulated_ledger_path=str(ledger_path)))
    charge = await built.charge("order-1", TEN, "tok_visa", capture=True)

    reader = SimulatedPaymentGateway(ledger_path=ledger_path)
    try:
        assert await reader.find_charge("order-1") == charge
        assert reader.charge_count("order-1") == 1
    finally:
        reader.close()


@pytest.mark.parametrize("on_file", [False, True], ids=["memory", "file"])
async def test_a_charge_needing_the_customer_waits_with_a_next_action(
    on_file: bool, tmp_path: Path
) -> None:
    """The 3-D Secure test token answers REQUIRES_ACTION and a URL, the same on a repeat."""
    gateway = SimulatedPaymentGateway(ledger_path=tmp_path / "p.sqlite3" if on_file else None)
    try:
        first = await gateway.charge("order-1", TEN, "tok_threeDSecureRequired", capture=True)
        again = await gateway.charge("order-1", TEN, "tok_threeDSecureRequired", capture=True)
        found = await gateway.find_charge("order-1")
        charges = gateway.charge_count("order-1")
    finally:
        gateway.close()
    assert first.status is ChargeStatus.REQUIRES_ACTION
    assert first.next_action is not None
    assert first.reference in first.next_action
    assert again == first
    assert found == first
    assert charges == 1


@pytest.mark.parametrize(
    ("succeed", "capture", "status"),
    [
        (True, True, ChargeStatus.CAPTURED),
        (True, False, ChargeStatus.AUTHORIZED),
        (False, True, ChargeStatus.VOIDED),
    ],
)
async def test_the_customer_completes_or_fails_the_action(
    succeed: bool, capture: bool, status: ChargeStatus
) -> None:
    """Authenticated: captured (or authorised) as asked; failed: abandoned, no money moved."""
    gateway = SimulatedPaymentGateway()
    waiting = await gateway.charge("order-1", TEN, "tok_threeDSecureRequired", capture=capture)

    done = await gateway.complete_action(waiting.reference, succeed=succeed)

    assert done.status is status
    assert done.next_action is None
    assert await gateway.find_charge("order-1") == done


async def test_a_waiting_charge_is_voided_once_and_cannot_be_completed_after() -> None:
    """The shop's timeout or cancel abandons it; the customer arriving late changes nothing."""
    gateway = SimulatedPaymentGateway()
    waiting = await gateway.charge("order-1", TEN, "tok_threeDSecureRequired", capture=True)

    voided = await gateway.void(waiting.reference)
    again = await gateway.void(waiting.reference)

    assert voided.status is again.status is ChargeStatus.VOIDED
    with pytest.raises(GatewayRequestError):
        await gateway.complete_action(waiting.reference, succeed=True)


async def test_a_partial_refund_is_made_once_per_key() -> None:
    """An after-sale refund of part of a charge: once per key (asked again under it for
    another amount, the answer is the refund it made), the rest stays refundable, more
    than is left is refused, and the last part makes the charge REFUNDED."""
    gateway = SimulatedPaymentGateway()
    charge = await gateway.charge("order-1", TEN, "tok_visa", capture=True)
    four = Money.of("4.00", "EUR")

    first = await gateway.refund(charge.reference, four, idempotency_key="refund-1")
    again = await gateway.refund(charge.reference, four, idempotency_key="refund-1")

    assert first.status is ChargeStatus.CAPTURED
    assert again.refund_reference == first.refund_reference
    other = await gateway.refund(charge.reference, TEN, idempotency_key="refund-1")
    assert (other.refund_reference, other.refund_amount) == (first.refund_reference, four)
    assert gateway.refund_count(charge.reference) == 1
    with pytest.raises(GatewayRequestError):
        await gateway.refund(charge.reference, TEN, idempotency_key="refund-2")
    rest = await gateway.refund(charge.reference, idempotency_key="refund-3")
    assert rest.status is ChargeStatus.REFUNDED
    assert rest.refund_reference != first.refund_reference


async def test_a_refund_key_is_refused_on_another_charge() -> None:
    """A refund key belongs to the charge it refunded: used on another one, it is refused
    rather than answered with a refund of a different charge."""
    gateway = SimulatedPaymentGateway()
    one = await gateway.charge("order-1", TEN, "tok_visa", capture=True)
    two = await gateway.charge("order-2", TEN, "tok_visa", capture=True)
    await gateway.refund(one.reference, Money.of("4.00", "EUR"), idempotency_key="refund-1")

    with pytest.raises(IdempotencyKeyReusedError):
        await gateway.refund(two.reference, Money.of("4.00", "EUR"), idempotency_key="refund-1")
    assert gateway.refund_count(two.reference) == 0


async def test_partial_refunds_are_shared_through_the_ledger_file(tmp_path: Path) -> None:
    """Two gateways on one ledger file see one provider's refunds."""
    path = tmp_path / "provider.sqlite3"
    one = SimulatedPaymentGateway(ledger_path=path)
    two = SimulatedPaymentGateway(ledger_path=path)
    charge = await one.charge("order-1", TEN, "tok_visa", capture=True)
    four = Money.of("4.00", "EUR")
    first = await one.refund(charge.reference, four, idempotency_key="refund-1")
    assert (await two.refund(charge.reference, four, idempotency_key="refund-1")) == first
    with pytest.raises(GatewayRequestError):
        await two.refund(charge.reference, Money.of("6.01", "EUR"), idempotency_key="refund-2")
    one.close()
    two.close()
