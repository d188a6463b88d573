"""The provider service behind its bearer token (ORDERS_PAYMENTS__PROVIDER_TOKEN), over
real HTTP: every route but /healthz refuses a caller without it, the workers' client and
the outage tool send it, and production will not start the service without one."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest

from config.settings import PaymentSettings
from devstack.payment_provider import TOKEN_VARIABLE, PaymentProviderService
from devstack.process import free_port
from gateways.factory import build_payment_gateway
from gateways.payment_gateway import ChargeStatus, GatewayRequestError
from models import Money
from tests.unit.production_env import DEMO, VALID

pytestmark = pytest.mark.integration

TOKEN = "provider-token-for-this-test"
TEN = Money.of("10.00", "EUR")
# Every route of provider/app.py but /healthz, with a body it would accept.
GUARDED = [
    ("POST", "/v1/charges", {"amount": "10.00", "currency": "EUR", "token": "tok_visa"}),
    ("GET", "/v1/charges?idempotency_key=k", None),
    ("POST", "/v1/charges/ch_1/capture", None),
    ("POST", "/v1/charges/ch_1/refund", None),
    ("POST", "/v1/charges/ch_1/void", None),
    ("GET", "/admin/outage", None),
    ("PUT", "/admin/outage", {"on": True}),
    ("GET", "/admin/charge-count?idempotency_key=k", None),
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaymentProviderService]:
    provider = PaymentProviderService(
        tmp_path_factory.mktemp("provider"), env={TOKEN_VARIABLE: TOKEN}
    ).start()
    yield provider
    provider.stop()


@pytest.mark.parametrize(("method", "path", "body"), GUARDED)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", TOKEN])
def test_every_route_but_healthz_refuses_a_caller_without_the_token(
    service: PaymentProviderService,
    method: str,
    path: str,
    body: dict[str, object] | None,
    authorization: str | None,
) -> None:
    """No header, a wrong token, or the token without its scheme: 401, and nothing done."""
    headers = {"Idempotency-Key": "k"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = httpx.request(method, service.url + path, json=body, headers=headers, timeout=10)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_the_probe_needs_no_token(service: PaymentProviderService) -> None:
    assert httpx.get(f"{service.url}/healthz", timeout=10).status_code == 200


def test_the_outage_switch_answers_with_the_token(service: PaymentProviderService) -> None:
    """The test of the 401s above: the same request with the token is served."""
    response = httpx.get(
        f"{service.url}/admin/outage",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json() == {"on": False}


async def test_the_workers_gateway_sends_the_token_from_the_settings(
    service: PaymentProviderService,
) -> None:
    """Built as a payments worker builds it: a charge and its refund go through."""
    gateway = build_payment_gateway(PaymentSettings(provider_url=service.url, provider_token=TOKEN))
    key = f"order-{uuid.uuid4().hex[:8]}"
    charge = await gateway.charge(key, TEN, "tok_visa", capture=True)
    assert charge.status is ChargeStatus.CAPTURED
    assert (await gateway.refund(charge.reference)).status is ChargeStatus.REFUNDED


async def test_a_gateway_without_the_token_is_refused_as_our_mistake(
    service: PaymentProviderService,
) -> None:
    """A 401 is not an outage to retry: the configuration is wrong."""
    gateway = build_payment_gateway(PaymentSettings(provider_url=service.url))
    with pytest.raises(GatewayRequestError, match="401"):
        await gateway.charge(f"order-{uuid.uuid4().hex[:8]}", TEN, "tok_visa", capture=True)


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    return {**env, **extra}


def _provider_tool(url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.provider", "--url", url, "outage", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_clean_env(env),
    )


def test_the_outage_tool_sends_the_token_from_the_environment(
    service: PaymentProviderService,
) -> None:
    done = _provider_tool(service.url, {TOKEN_VARIABLE: TOKEN})
    assert done.returncode == 0, done.stderr
    assert "outage off" in done.stdout
    refused = _provider_tool(service.url, {})
    assert refused.returncode == 1
    assert "401" in refused.stderr


@pytest.mark.parametrize(
    "environment",
    [VALID, {k: v for k, v in DEMO.items() if k != TOKEN_VARIABLE}],
    ids=["production", "demo with the allowance"],
)
def test_production_does_not_start_the_provider_without_its_token(
    environment: dict[str, str],
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "provider", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_clean_env(environment),
    )
    assert done.returncode != 0
    assert TOKEN_VARIABLE in done.stderr
