"""Every process serves Prometheus metrics, and the business counters move by exactly the
orders a test placed, by outcome; a real Prometheus scrapes them all with our alert rules."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import sqlalchemy
import yaml

from config.settings import AuthSettings
from devstack.process import ServiceUnavailableError
from devstack.prometheus import PrometheusServer
from devstack.stack import Stack
from messages import queues
from tests.e2e.metrics_stack import (
    Samples,
    exported_names,
    grand_total,
    metrics_stack,
    scrape,
    scrape_all,
    total,
)
from tests.fixtures.services import service_unavailable
from tools.token import mint_token

__all__ = ["metrics_stack"]

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
TERMINAL = {"CONFIRMED", "REJECTED", "PAYMENT_FAILED", "CANCELLED"}
# Orders this module places, by how they end.
CONFIRMED, DECLINED, OUT_OF_STOCK = 3, 2, 1
PLACED = CONFIRMED + DECLINED + OUT_OF_STOCK


def _place(stack: Stack, headers: dict[str, str], token: str, quantity: int = 1) -> str:
    response = httpx.post(
        f"{stack.api_url}/orders",
        json={
            "items": [{"product_id": "sku-burr-grinder", "quantity": quantity}],
            "payment": {"method": "card", "token": token},
        },
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 202, response.text
    order_id: str = response.json()["order_id"]
    return order_id


def _wait_terminal(stack: Stack, headers: dict[str, str], order_id: str) -> str:
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        response = httpx.get(f"{stack.api_url}/orders/{order_id}", headers=headers, timeout=30)
        status = str(response.json()["status"])
        if status in TERMINAL:
            return status
        time.sleep(0.2)
    raise AssertionError(f"order {order_id} still {status}")


def _insert_order_needing_attention(stack: Stack) -> None:
    """A read-model row in the waiting state (the state itself is another part's work)."""
    url = stack.env["ORDERS_DATABASE__URL"]
    engine = sqlalchemy.create_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "INSERT INTO orders (id, customer_id, status, total_amount, currency, "
                "payment_method, created_at, updated_at) VALUES "
                "(:id, 'metrics-operator', 'NEEDS_ATTENTION', :total, 'EUR', 'card', :now, :now)"
            ),
            {"id": str(uuid.uuid4()), "total": Decimal("1.00"), "now": now},
        )
    engine.dispose()


def _settled(stack: Stack, before: dict[str, Samples]) -> dict[str, Samples]:
    """Scrapes once every order's terminal status is counted (the read model may answer
    a moment before the concluding activity's commit is counted)."""
    deadline = time.monotonic() + 30
    while True:
        after = scrape_all(stack)
        moved = grand_total(after, "orders_completed_total") - grand_total(
            before, "orders_completed_total"
        )
        if moved >= PLACED or time.monotonic() > deadline:
            return after
        time.sleep(0.2)


@pytest.fixture(scope="module")
def placed(metrics_stack: Stack) -> tuple[dict[str, Samples], dict[str, Samples]]:
    """Scrapes before and after the module's orders (and one idempotent replay) ended."""
    stack = metrics_stack
    before = scrape_all(stack)
    token = mint_token(AuthSettings(), "metrics-customer", "customer", email="m@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    keyed = headers | {"Idempotency-Key": f"metrics-{uuid.uuid4()}"}
    orders = [_place(stack, keyed, "tok_visa")]
    assert _place(stack, keyed, "tok_visa") == orders[0]  # a replay: not a second order
    orders += [_place(stack, headers, "tok_visa") for _ in range(CONFIRMED - 1)]
    orders += [_place(stack, headers, "tok_chargeDeclined") for _ in range(DECLINED)]
    orders += [_place(stack, headers, "tok_visa", quantity=999) for _ in range(OUT_OF_STOCK)]
    statuses = [_wait_terminal(stack, headers, order_id) for order_id in orders]
    assert sorted(statuses) == sorted(
        ["CONFIRMED"] * CONFIRMED + ["PAYMENT_FAILED"] * DECLINED + ["REJECTED"] * OUT_OF_STOCK
    )
    return before, _settled(stack, before)


@pytest.fixture(scope="module")
def needing_attention(metrics_stack: Stack) -> None:
    _insert_order_needing_attention(metrics_stack)


# What each process must show (the SDK endpoints' names are the Temporal SDK's own).
EXPECTED_NAMES = {
    "api": {
        "orders_placed_total",
        "orders_needing_attention",
        "http_requests_total",
        "http_request_duration_seconds_bucket",
    },
    # The workflow worker counts nothing of its own; its process metrics are there.
    "worker-orders": {"process_resident_memory_bytes"},
    "worker-inventory": {"inventory_reservation_failures_total"},
    "worker-payments": {"payment_charges_total", "payment_circuit_open"},
    "worker-notifications": {"orders_completed_total", "order_saga_duration_seconds_bucket"},
    "outbox-relay": {
        "outbox_unpublished_events",
        "outbox_oldest_unpublished_age_seconds",
        "outbox_published_total",
        "outbox_relay_leader",
    },
    "worker-orders-sdk": {
        "temporal_workflow_completed",
        "temporal_workflow_task_schedule_to_start_latency_bucket",
    },
    **{
        f"worker-{name}-sdk": {"temporal_activity_schedule_to_start_latency_bucket"}
        for name in (queues.INVENTORY, queues.PAYMENTS, queues.NOTIFICATIONS)
    },
}


def test_every_process_serves_the_metrics_it_owns(
    metrics_stack: Stack, placed: tuple[dict[str, Samples], dict[str, Samples]]
) -> None:
    """curl on each process's endpoint (and each worker's SDK endpoint) shows its names."""
    _, after = placed
    assert set(metrics_stack.metrics_urls) == set(EXPECTED_NAMES)
    for process, names in EXPECTED_NAMES.items():
        served = exported_names(metrics_stack.metrics_urls[process])
        assert names <= served, (process, sorted(served))
    prefix = metrics_stack.env["ORDERS_TEMPORAL__TASK_QUEUE_PREFIX"]
    payments_sdk = after["worker-payments-sdk"]
    assert (
        total(
            payments_sdk,
            "temporal_activity_schedule_to_start_latency_count",
            task_queue=f"{prefix}payments",
        )
        >= CONFIRMED + DECLINED
    )


def test_counters_moved_by_exactly_the_orders_placed_by_outcome(
    placed: tuple[dict[str, Samples], dict[str, Samples]],
) -> None:
    """N orders: placed +N (the replay not counted), completed +N split by outcome, one
    charge per order by result, one refused reservation, N saga durations."""
    before, after = placed

    def moved(name: str, **labels: str) -> float:
        return grand_total(after, name, **labels) - grand_total(before, name, **labels)

    assert moved("orders_placed_total") == PLACED
    assert moved("orders_completed_total", outcome="confirmed") == CONFIRMED
    assert moved("orders_completed_total", outcome="payment_failed") == DECLINED
    assert moved("orders_completed_total", outcome="rejected") == OUT_OF_STOCK
    assert moved("orders_completed_total") == PLACED
    assert moved("order_saga_duration_seconds_count", outcome="confirmed") == CONFIRMED
    assert moved("order_saga_duration_seconds_count") == PLACED
    assert moved("order_saga_duration_seconds_sum") > 0
    assert moved("payment_charges_total", result="captured") == CONFIRMED
    assert moved("payment_charges_total", result="declined") == DECLINED
    assert moved("payment_charges_total") == CONFIRMED + DECLINED
    assert moved("inventory_reservation_failures_total", reason="out_of_stock") == OUT_OF_STOCK
    # Both POSTs of the replayed key reached the API: HTTP counts requests, not orders.
    posts = moved("http_requests_total", handler="/orders", method="POST", status="2xx")
    assert posts == PLACED + 1
    assert grand_total(after, "payment_circuit_open") == 0


def test_orders_needing_attention_counts_the_read_model(
    metrics_stack: Stack, needing_attention: None
) -> None:
    """The API's gauge follows the orders table (sampled every 0.5 s here)."""
    url = metrics_stack.metrics_urls["api"]
    deadline = time.monotonic() + 15
    while total(scrape(url), "orders_needing_attention") != 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert total(scrape(url), "orders_needing_attention") == 1


def test_a_real_prometheus_scrapes_every_process_and_evaluates_the_alerts(
    metrics_stack: Stack,
    placed: tuple[dict[str, Samples], dict[str, Samples]],
    needing_attention: None,
    tmp_path: Path,
) -> None:
    """Prometheus (Debian's) scrapes all ten endpoints, loads alerts.yml without rule
    errors, sums the business counters, and the attention alert goes pending."""
    targets = {
        name: [url.removeprefix("http://").removesuffix("/metrics")]
        for name, url in metrics_stack.metrics_urls.items()
    }
    try:
        server = PrometheusServer(tmp_path / "prometheus", targets, [ALERTS]).start()
    except ServiceUnavailableError as exc:
        service_unavailable(str(exc))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            active = server.api("targets")["activeTargets"]
            alerts = server.api("alerts")["alerts"]
            up = {t["labels"]["job"] for t in active if t["health"] == "up"}
            pending = {a["labels"]["alertname"] for a in alerts}
            if up == set(targets) and "OrdersNeedingAttention" in pending:
                break
            time.sleep(0.5)
        assert up == set(targets), active
        assert "OrdersNeedingAttention" in pending, alerts
        confirmed = server.api("query", query='sum(orders_completed_total{outcome="confirmed"})')
        assert float(confirmed["result"][0]["value"][1]) == CONFIRMED
        groups = server.api("rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        declared = yaml.safe_load(ALERTS.read_text())["groups"]
        assert len(rules) == sum(len(group["rules"]) for group in declared)
        assert all(rule["health"] in {"ok", "unknown"} for rule in rules), rules
    finally:
        server.stop()
