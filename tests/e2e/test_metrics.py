"""Every process serves Prometheus metrics, and the business counters move by exactly the
orders a test placed, by outcome; a real Prometheus scrapes them all with our alert rules."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from config.settings import AuthSettings
from devstack.process import ServiceUnavailableError
from devstack.prometheus import PrometheusServer
from devstack.stack import Stack
from devstack.tokens import mint_token
from messages import queues
from tests.e2e.metrics_stack import (
    Samples,
    exported_names,
    grand_total,
    insert_order_needing_attention,
    metrics_stack,
    place,
    scrape,
    scrape_all,
    settled,
    total,
    wait_terminal,
)
from tests.fixtures.services import service_unavailable
from tests.integration.promql import alert_expressions, dashboard_expressions, metric_names

__all__ = ["metrics_stack"]

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
# Orders this module places, by how they end.
CONFIRMED, DECLINED, OUT_OF_STOCK = 3, 2, 1
PLACED = CONFIRMED + DECLINED + OUT_OF_STOCK


@pytest.fixture(scope="module")
def placed(metrics_stack: Stack) -> tuple[dict[str, Samples], dict[str, Samples]]:
    """Scrapes before and after the module's orders (and one idempotent replay) ended."""
    stack = metrics_stack
    before = scrape_all(stack)
    token = mint_token(AuthSettings(), "metrics-customer", "customer", email="m@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    keyed = headers | {"Idempotency-Key": f"metrics-{uuid.uuid4()}"}
    orders = [place(stack, keyed, "tok_visa")]
    assert place(stack, keyed, "tok_visa") == orders[0]  # a replay: not a second order
    orders += [place(stack, headers, "tok_visa") for _ in range(CONFIRMED - 1)]
    orders += [place(stack, headers, "tok_chargeDeclined") for _ in range(DECLINED)]
    orders += [place(stack, headers, "tok_visa", quantity=999) for _ in range(OUT_OF_STOCK)]
    statuses = [wait_terminal(stack, headers, order_id) for order_id in orders]
    assert sorted(statuses) == sorted(
        ["CONFIRMED"] * CONFIRMED + ["PAYMENT_FAILED"] * DECLINED + ["REJECTED"] * OUT_OF_STOCK
    )
    return before, settled(stack, before, PLACED)


@pytest.fixture(scope="module")
def needing_attention(metrics_stack: Stack) -> None:
    insert_order_needing_attention(metrics_stack)


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
        if not process.endswith("-sdk"):  # the SDK's counters lack _total by its design
            assert promtool_lint(metrics_stack.metrics_urls[process]) == "", process
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


def promtool_lint(url: str) -> str:
    """`promtool check metrics` on what ``url`` serves: its complaints, or ""."""
    binary = shutil.which("promtool")
    if binary is None:
        service_unavailable("promtool not installed (Debian: apt-get install prometheus)")
    text = httpx.get(url, timeout=10).text
    done = subprocess.run(
        [binary, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    return (done.stdout + done.stderr).strip()


# Served only from a worker's first workflow task failure; tests/integration/
# test_sdk_metrics.py provokes one and checks the name.
SHOWN_BY_THE_SDK_TEST = {"temporal_workflow_task_execution_failed"}


def test_alerts_and_dashboard_name_only_metrics_the_processes_serve(
    metrics_stack: Stack, placed: tuple[dict[str, Samples], dict[str, Samples]]
) -> None:
    """A renamed metric would leave an alert that never fires or an empty panel."""
    served = set().union(*(exported_names(url) for url in metrics_stack.metrics_urls.values()))
    named = set().union(
        *(metric_names(expr) for expr in alert_expressions() + dashboard_expressions())
    )
    assert named - served - SHOWN_BY_THE_SDK_TEST == set()
    assert named >= SHOWN_BY_THE_SDK_TEST


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
