"""The stack in production mode starts and serves: ORDERS_ENVIRONMENT=production, tokens
from a local issuer (RS256, JWKS over HTTP), payments through the shared provider service.
An order placed with a token from `python -m tools.token --issuer-key` is CONFIRMED, with
one charge at the provider; a dev HS256 token is refused; the provider's outage switch
holds the order back until it is turned off."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from config.demo_allowance import allowance_notice
from devstack.process import ServiceUnavailableError
from devstack.stack import Stack, StackOptions
from tests.fixtures.services import service_unavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("ORDERS_") or name in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}:
                patch.delenv(name)
        yield from _started(tmp_path_factory)


def _started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # What production accepts: PostgreSQL, Kafka, a namespace of its own; the one broker,
    # the simulated provider and log-only notices only because the allowance names them.
    options = StackOptions(
        run_dir=tmp_path_factory.mktemp("prod-stack"),
        temporal_port=0,
        ui_port=0,
        api_port=0,
        namespace="orders",
        postgres=True,
        kafka=True,
        local_issuer=True,
        extra_env={
            "ORDERS_ENVIRONMENT": "production",
            "ORDERS_DEMO_ALLOWANCE": "true",
            "ORDERS_TELEMETRY__LOG_LEVEL": "WARNING",
        },
    )
    running = Stack(options)
    try:
        running.start()
    except ServiceUnavailableError as exc:
        running.stop()
        service_unavailable(str(exc))
    yield running
    running.stop()


def _tool(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
        env={**os.environ, **stack.child_env()},
    )
    return done.stdout.strip()


def _issuer_token(stack: Stack, subject: str) -> str:
    assert stack.issuer is not None
    return _tool(stack, "tools.token", "--sub", subject, "--issuer-key", str(stack.issuer.key_path))


def _place(stack: Stack, token: str) -> httpx.Response:
    return httpx.post(
        f"{stack.api_url}/orders",
        json={
            "items": [{"product_id": "sku-ceramic-mug", "quantity": 1}],
            "payment": {"method": "card", "token": "tok_visa"},
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def _status(stack: Stack, token: str, order_id: str) -> str:
    response = httpx.get(
        f"{stack.api_url}/orders/{order_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    status: str = response.json()["status"]
    return status


def _wait_status(stack: Stack, token: str, order_id: str, wanted: str, within: float) -> None:
    deadline = time.monotonic() + within
    status = ""
    while time.monotonic() < deadline:
        status = _status(stack, token, order_id)
        if status == wanted:
            return
        time.sleep(0.25)
    raise AssertionError(f"order {order_id} is {status}, not {wanted}, after {within}s")


def test_a_production_stack_confirms_an_order_with_an_issuer_token(stack: Stack) -> None:
    assert stack.provider is not None
    token = _issuer_token(stack, "alice")

    placed = _place(stack, token)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    _wait_status(stack, token, order_id, "CONFIRMED", 60)
    count = httpx.get(
        f"{stack.provider.url}/admin/charge-count",
        params={"idempotency_key": f"order-{order_id}"},
        headers={"Authorization": f"Bearer {stack.provider.token}"},
        timeout=10,
    ).json()["count"]
    assert count == 1


def test_every_process_names_the_demo_allowance_at_start(stack: Stack) -> None:
    """The demo parts are let through, never silently: each process's log says which."""
    notice = allowance_notice()
    for name, process in stack.processes.items():
        assert notice in process.log_path.read_text(), f"{name} did not log the allowance"


def test_the_provider_refuses_a_caller_without_its_token(stack: Stack) -> None:
    """In production the provider's refunds and outage switch need its bearer token."""
    assert stack.provider is not None
    assert stack.provider.token
    refused = httpx.get(f"{stack.provider.url}/admin/outage", timeout=10)
    assert refused.status_code == 401


def test_a_production_stack_refuses_a_dev_token(stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    done = subprocess.run(
        [sys.executable, "-m", "tools.token", "--sub", "mallory"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
        env=env,
    )
    assert _place(stack, done.stdout.strip()).status_code == 401


def test_the_outage_switch_holds_payments_until_it_is_off(stack: Stack) -> None:
    token = _issuer_token(stack, "bob")
    assert "outage on" in _tool(stack, "tools.provider", "outage", "on")
    try:
        placed = _place(stack, token)
        assert placed.status_code == 202, placed.text
        order_id = placed.json()["order_id"]
        time.sleep(3)
        assert _status(stack, token, order_id) not in {"CONFIRMED", "PAYMENT_FAILED"}
    finally:
        assert "outage off" in _tool(stack, "tools.provider", "outage", "off")
    _wait_status(stack, token, order_id, "CONFIRMED", 90)
