"""Every process of the system as its own OS process, each with its metrics endpoint.

The API runs with two uvicorn workers (multiprocess metrics), each task queue in a worker
process of its own, and the outbox relay; Temporal, PostgreSQL and Kafka are the session's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from prometheus_client.parser import text_string_to_metric_families

from devstack.kafka import KafkaBroker
from devstack.postgres import PostgresCluster
from devstack.stack import Stack, StackOptions
from devstack.temporal import TemporalDevServer
from messages import queues

TERMINAL = {"CONFIRMED", "REJECTED", "PAYMENT_FAILED", "CANCELLED"}
# Sample name -> {frozenset of (label, value)} -> value
Samples = dict[str, dict[frozenset[tuple[str, str]], float]]


def scrape(url: str) -> Samples:
    text = httpx.get(url, timeout=10).raise_for_status().text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples


def exported_names(url: str) -> set[str]:
    """Sample names exactly as served (the parser would add ``_total`` to the SDK's
    counters, which Prometheus stores without it)."""
    text = httpx.get(url, timeout=10).raise_for_status().text
    return {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for key, value in samples.get(name, {}).items() if wanted <= key)


def scrape_all(stack: Stack) -> dict[str, Samples]:
    return {name: scrape(url) for name, url in stack.metrics_urls.items()}


def grand_total(scrapes: dict[str, Samples], name: str, **labels: str) -> float:
    return sum(total(samples, name, **labels) for samples in scrapes.values())


def _answering(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_endpoints(stack: Stack, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    missing = dict(stack.metrics_urls)
    while missing and time.monotonic() < deadline:
        for process in stack.processes.values():
            process.check_alive()
        missing = {name: url for name, url in missing.items() if not _answering(url)}
        time.sleep(0.2)
    assert not missing, f"metrics endpoints not answering: {missing}"


def place(stack: Stack, headers: dict[str, str], token: str, quantity: int = 1) -> str:
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


def wait_terminal(stack: Stack, headers: dict[str, str], order_id: str) -> str:
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        response = httpx.get(f"{stack.api_url}/orders/{order_id}", headers=headers, timeout=30)
        status = str(response.json()["status"])
        if status in TERMINAL:
            return status
        time.sleep(0.2)
    raise AssertionError(f"order {order_id} still {status}")


def insert_order_needing_attention(stack: Stack) -> None:
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


def settled(stack: Stack, before: dict[str, Samples], expected: int) -> dict[str, Samples]:
    """Scrapes once every order's terminal status is counted (the read model may answer
    a moment before the concluding activity's commit is counted)."""
    deadline = time.monotonic() + 30
    while True:
        after = scrape_all(stack)
        moved = grand_total(after, "orders_completed_total") - grand_total(
            before, "orders_completed_total"
        )
        if moved >= expected or time.monotonic() > deadline:
            return after
        time.sleep(0.2)


@pytest.fixture(scope="module")
def metrics_stack(
    tmp_path_factory: pytest.TempPathFactory,
    temporal_server: TemporalDevServer,
    pg_cluster: PostgresCluster,
    kafka_broker: KafkaBroker,
) -> Iterator[Stack]:
    run_dir: Path = tmp_path_factory.mktemp("metrics-stack")
    database = f"metrics_{uuid.uuid4().hex[:8]}"
    url = pg_cluster.create_database(database)  # migrated by the stack
    env: dict[str, str] = {
        "ORDERS_ENVIRONMENT": "test",
        "ORDERS_DATABASE__URL": url,
        "ORDERS_TEMPORAL__ADDRESS": temporal_server.address,
        "ORDERS_TEMPORAL__TASK_QUEUE_PREFIX": f"metrics-{uuid.uuid4().hex[:8]}-",
        "ORDERS_KAFKA__BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "ORDERS_TELEMETRY__SAMPLE_INTERVAL_SECONDS": "0.5",
    }
    stack = Stack(
        StackOptions(
            run_dir=run_dir,
            api_port=0,
            worker_groups=[[name] for name in queues.ALL],
            api_workers=2,
            extra_env=env,
            metrics=True,
            ready_seconds=180,
        )
    )
    try:
        stack.prepare_database()
        stack.start_processes()
        wait_for_endpoints(stack)
        yield stack
    finally:
        stack.stop()
