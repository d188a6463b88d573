"""The shared payment provider service, over real HTTP, from this and other processes.

Each test starts ``python -m provider`` (devstack/payment_provider.py) on a free port with
its ledger in a temporary folder, and talks to it through the adapter the workers use.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from config.settings import PaymentSettings
from devstack.payment_provider import PaymentProviderService
from devstack.process import free_port
from gateways.factory import build_payment_gateway
from gateways.http_payment import HttpPaymentGateway
from gateways.payment_gateway import (
    ChargeStatus,
    CircuitBreakerGateway,
    GatewayRequestError,
    GatewayUnavailableError,
    IdempotencyKeyReusedError,
    PaymentDeclinedError,
)
from models import Money

pytestmark = pytest.mark.integration

TEN = Money.of("10.00", "EUR")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaymentProviderService]:
    """One service for the module (each test uses keys of its own), as the workers share one."""
    provider = PaymentProviderService(tmp_path_factory.mktemp("provider")).start()
    yield provider
    provider.stop()


@pytest.fixture
def outage_ends(service: PaymentProviderService) -> Iterator[None]:
    yield
    provider_tool(service.url, "outage", "off")


@pytest.fixture
def key() -> str:
    return f"order-{uuid.uuid4().hex[:8]}"


@pytest_asyncio.fixture
async def gateway(service: PaymentProviderService) -> AsyncIterator[HttpPaymentGateway]:
    client = HttpPaymentGateway(service.url)
    yield client
    await client.aclose()


def provider_tool(url: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tools.provider", "--url", url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


async def test_a_repeated_charge_over_http_charges_once(
    gateway: HttpPaymentGateway, key: str
) -> None:
    """The idempotency key travels in its header: the second request gets the first charge."""
    first = await gateway.charge(key, TEN, "tok_visa", capture=True)
    second = await gateway.charge(key, TEN, "tok_visa", capture=True)

    assert second == first
    assert first.status is ChargeStatus.CAPTURED
    assert first.amount == TEN
    assert await gateway.charge_count(key) == 1


async def test_a_reused_key_with_other_parameters_is_refused(
    gateway: HttpPaymentGateway, key: str
) -> None:
    await gateway.charge(key, TEN, "tok_visa", capture=True)

    with pytest.raises(IdempotencyKeyReusedError):
        await gateway.charge(key, Money.of("11.00", "EUR"), "tok_visa", capture=True)
    assert await gateway.charge_count(key) == 1


async def test_a_declining_token_is_declined_with_its_code(
    gateway: HttpPaymentGateway, key: str
) -> None:
    """402 becomes PaymentDeclinedError with the provider's code, the same the second time."""
    for _ in range(2):
        with pytest.raises(PaymentDeclinedError) as declined:
            await gateway.charge(key, TEN, "tok_insufficientFunds", capture=True)
        assert declined.value.code == "insufficient_funds"
        assert "insufficient funds" in declined.value.reason
    assert await gateway.find_charge(key) is None
    assert await gateway.charge_count(key) == 0


async def test_authorise_capture_refund_and_void_over_http(
    gateway: HttpPaymentGateway, key: str
) -> None:
    held = await gateway.charge(key, TEN, "tok_visa", capture=False)
    assert held.status is ChargeStatus.AUTHORIZED
    captured = await gateway.capture(held.reference)
    assert captured.status is ChargeStatus.CAPTURED
    refunded = await gateway.refund(held.reference)
    assert refunded.status is ChargeStatus.REFUNDED
    assert refunded.refund_reference is not None
    assert await gateway.refund(held.reference) == refunded  # twice refunds once

    other = await gateway.charge(f"{key}-2", TEN, "tok_visa", capture=False)
    assert (await gateway.void(other.reference)).status is ChargeStatus.VOIDED
    found = await gateway.find_charge(f"{key}-2")
    assert found is not None
    assert found.status is ChargeStatus.VOIDED

    with pytest.raises(GatewayRequestError, match="cannot become"):
        await gateway.capture(other.reference)
    with pytest.raises(GatewayRequestError, match="no such charge"):
        await gateway.refund("ch_unknown")


async def test_the_outage_switch_of_the_tool_stops_and_restarts_every_charge(
    service: PaymentProviderService, gateway: HttpPaymentGateway, key: str, outage_ends: None
) -> None:
    """`python -m tools.provider outage on` makes the provider answer 503 (unavailable) to
    every client; `off` ends it; nothing was charged meanwhile."""
    assert "outage on" in provider_tool(service.url, "outage", "on")
    assert "outage on" in provider_tool(service.url, "outage", "status")

    with pytest.raises(GatewayUnavailableError, match="simulated outage"):
        await gateway.charge(key, TEN, "tok_visa", capture=True)
    assert await gateway.charge_count(key) == 0

    assert "outage off" in provider_tool(service.url, "outage", "off")
    charge = await gateway.charge(key, TEN, "tok_visa", capture=True)
    assert charge.status is ChargeStatus.CAPTURED
    assert await gateway.charge_count(key) == 1


async def test_the_breaker_opens_on_the_provider_outage(
    service: PaymentProviderService, key: str, outage_ends: None
) -> None:
    """The gateway the workers build from settings is the HTTP adapter behind the breaker."""
    built = build_payment_gateway(
        PaymentSettings(provider_url=service.url, breaker_failure_threshold=2)
    )
    assert isinstance(built, CircuitBreakerGateway)
    provider_tool(service.url, "outage", "on")
    for _ in range(2):
        with pytest.raises(GatewayUnavailableError):
            await built.charge(key, TEN, "tok_visa", capture=True)
    assert built.state == "open"
    with pytest.raises(GatewayUnavailableError, match="circuit open"):
        await built.charge(key, TEN, "tok_visa", capture=True)


_CHARGE_IN_ANOTHER_PROCESS = """
import asyncio, sys
from config.settings import load_settings
from gateways.factory import build_payment_gateway
from models import Money

async def main() -> None:
    gateway = build_payment_gateway(load_settings().payments)
    if sys.argv[1] == "charge":
        charge = await gateway.charge(sys.argv[2], Money.of("24.90", "EUR"), "tok_visa",
                                      capture=True)
    else:
        found = await gateway.find_charge(sys.argv[2])
        assert found is not None, "the other process's charge is not there"
        charge = await gateway.refund(found.reference)
    print(charge.reference, charge.status.value)

asyncio.run(main())
"""


def _in_a_process(url: str, action: str, key: str) -> list[str]:
    env = {**os.environ, "ORDERS_PAYMENTS__PROVIDER_URL": url}
    done = subprocess.run(
        [sys.executable, "-c", _CHARGE_IN_ANOTHER_PROCESS, action, key],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


async def test_two_processes_share_one_provider_and_a_refund_finds_its_charge(
    service: PaymentProviderService, gateway: HttpPaymentGateway, key: str
) -> None:
    """Two processes built from settings alone (as two payments workers are): the second
    process refunds the charge the first one made, and a repeat of the first one's
    request from the second process does not charge again."""
    reference, status = _in_a_process(service.url, "charge", key)
    assert status == "CAPTURED"
    assert _in_a_process(service.url, "charge", key) == [reference, "CAPTURED"]

    assert _in_a_process(service.url, "refund", key) == [reference, "REFUNDED"]

    found = await gateway.find_charge(key)
    assert found is not None
    assert found.status is ChargeStatus.REFUNDED
    assert await gateway.charge_count(key) == 1


async def test_the_ledger_outlives_the_service(tmp_path: Path) -> None:
    """The provider's books are its SQLite file: after a restart a refund finds the charge
    and the same key still answers with the first charge."""
    service = PaymentProviderService(tmp_path).start()
    client = HttpPaymentGateway(service.url)
    try:
        charge = await client.charge("order-1", TEN, "tok_visa", capture=True)
        service.kill()
        service.start()
        assert await client.charge("order-1", TEN, "tok_visa", capture=True) == charge
        assert (await client.refund(charge.reference)).status is ChargeStatus.REFUNDED
    finally:
        await client.aclose()
        service.stop()


async def test_a_lost_response_is_unavailable_and_the_retry_finds_the_charge(
    tmp_path: Path,
) -> None:
    """A client timeout leaves the outcome unknown (GatewayUnavailableError, retried); the
    retry under the same key gets the charge the provider made meanwhile, not a second."""
    env = {"ORDERS_PAYMENTS__GATEWAY_LATENCY_MS": "1500"}
    service = PaymentProviderService(tmp_path, env=env).start()
    impatient = HttpPaymentGateway(service.url, timeout_seconds=0.3)
    patient = HttpPaymentGateway(service.url)
    try:
        with pytest.raises(GatewayUnavailableError, match="timed out"):
            await impatient.charge("order-1", TEN, "tok_visa", capture=True)
        retried = await patient.charge("order-1", TEN, "tok_visa", capture=True)
        assert retried.status is ChargeStatus.CAPTURED
        assert await patient.charge_count("order-1") == 1
    finally:
        await impatient.aclose()
        await patient.aclose()
        service.stop()


async def test_an_unreachable_provider_is_unavailable() -> None:
    client = HttpPaymentGateway(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(GatewayUnavailableError, match="unreachable"):
            await client.find_charge("order-1")
    finally:
        await client.aclose()
