"""One order, one trace: the deployed processes export to a real Jaeger, the Kafka messages
carry the trace, and the API's and the activities' log lines share its id."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from config.settings import AuthSettings, DatabaseSettings, TemporalSettings
from devstack.jaeger import Jaeger
from devstack.kafka import KafkaBroker
from devstack.tokens import mint_token
from outbox.topics import topic_for
from persistence.database import create_engine, session_factory
from persistence.seed import seed_catalog
from persistence.tables import EventRow
from tests.e2e.harness import CATALOG
from tests.e2e.running_stack import RunningStack, running_stack
from tests.fixtures.kafka import consume_all
from tests.integration.outbox_helpers import header_map
from tools.trace import find_order_trace, render

pytestmark = pytest.mark.integration

SERVICES = {
    "order-api",
    "order-worker-orders",
    "order-worker-inventory",
    "order-worker-payments",
    "order-worker-notifications",
    "order-outbox-relay",
}
ACTIVITIES = ("reserve_inventory", "charge_payment", "conclude_order")
WAIT_SECONDS = 60.0
SAGA_SPANS = (
    "StartWorkflow:",
    "RunWorkflow:",
    "StartActivity:",
    "RunActivity:",
    "CompleteWorkflow:",
)


@pytest.fixture
def stack(
    tmp_path: Path,
    pg_url: str,
    temporal_settings: TemporalSettings,
    kafka_broker: KafkaBroker,
    jaeger: Jaeger,
) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path, pg_url, temporal_settings, kafka_broker.bootstrap_servers, jaeger
    ) as running:
        yield running


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span["tags"]}


def _parent(span: dict[str, Any]) -> str | None:
    refs = [ref["spanID"] for ref in span["references"] if ref["refType"] == "CHILD_OF"]
    return refs[0] if refs else None


def _descendants(spans: list[dict[str, Any]], root: dict[str, Any]) -> list[dict[str, Any]]:
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        children.setdefault(_parent(span), []).append(span)
    found, todo = [], [root["spanID"]]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child["spanID"])
    return found


async def _place_and_confirm(stack: RunningStack, request_id: str) -> str:
    token = mint_token(AuthSettings(), "customer-7", "customer", email="c7@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=10) as http:
        placed = await http.post(
            "/orders",
            json={
                "items": [{"product_id": "sku-beans", "quantity": 1}],
                "payment": {"method": "card", "token": "tok_visa"},
            },
            headers=headers | {"X-Request-ID": request_id},
        )
        assert placed.status_code in {201, 202}, placed.text
        assert placed.headers["X-Request-ID"] == request_id
        order_id: str = placed.json()["order_id"]
        status = ""
        async with asyncio.timeout(WAIT_SECONDS):
            while status != "CONFIRMED":
                stack.check_alive()
                await asyncio.sleep(0.2)
                status = (await http.get(f"/orders/{order_id}", headers=headers)).json()["status"]
    return order_id


async def _published_events(pg_url: str) -> list[EventRow]:
    """Every event of this test's database, once the relay has published them all."""
    engine = create_engine(DatabaseSettings(url=pg_url))
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                async with session_factory(engine)() as session:
                    rows = list((await session.exec(select(EventRow))).all())
                if all(row.published_at is not None for row in rows):
                    return rows
                await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def _trace_with_publishes(jaeger: Jaeger, trace_id: str, publishes: int) -> dict[str, Any]:
    """The trace from Jaeger once it holds ``publishes`` publish spans (spans trickle in)."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            trace = await asyncio.to_thread(jaeger.trace, trace_id)
            if trace is not None:
                kinds = [_tags(span).get("span.kind") for span in trace["spans"]]
                if kinds.count("producer") >= publishes:
                    return trace
            await asyncio.sleep(0.3)


async def test_one_order_is_one_trace_across_every_process_and_its_kafka_messages(
    stack: RunningStack, pg_url: str, jaeger: Jaeger
) -> None:
    """POST /orders → workflow start and run → the three activities (with their SQL) → a
    publish span per Kafka event: one trace in Jaeger, with spans of every process; every
    message of the order carries that trace's id in ``traceparent``; the API's access line
    and the activity's log lines name the same trace."""
    engine = create_engine(DatabaseSettings(url=pg_url))
    try:
        await seed_catalog(session_factory(engine), CATALOG)
    finally:
        await engine.dispose()
    request_id = f"test-{uuid.uuid4().hex}"
    order_id = await _place_and_confirm(stack, request_id)

    # The API's access line for our request names the trace.
    access = [
        line
        for line in stack.log_lines("api")
        if line.get("logger") == "api.access" and line.get("request_id") == request_id
    ]
    assert len(access) == 1, access
    assert access[0]["method"] == "POST"
    assert access[0]["route"] == "/orders"
    assert access[0]["status"] in {201, 202}
    assert access[0]["duration_ms"] > 0
    trace_id = access[0]["trace_id"]

    all_events = await _published_events(pg_url)
    events = [row for row in all_events if (row.traceparent or "").split("-")[1:2] == [trace_id]]
    assert order_id in {row.aggregate_id for row in events}
    assert all(row.traceparent for row in all_events if row.aggregate_id == order_id)
    trace = await _trace_with_publishes(jaeger, trace_id, len(events))
    spans = trace["spans"]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_name.setdefault(span["operationName"], []).append(span)
    services = {trace["processes"][span["processID"]]["serviceName"] for span in spans}
    assert services >= SERVICES, services

    post = by_name["POST /orders"]
    assert len(post) == 1
    assert _tags(post[0])["span.kind"] == "server"
    assert _parent(post[0]) is None, "the POST is the trace's root"
    assert "StartWorkflow:OrderSaga" in by_name
    assert "RunWorkflow:OrderSaga" in by_name
    for activity in ACTIVITIES:
        runs = by_name.get(f"RunActivity:{activity}", [])
        assert runs, f"no RunActivity:{activity} in {sorted(by_name)}"
        sql = [
            span
            for span in _descendants(spans, runs[0])
            if "db.system" in _tags(span) or "db.system.name" in _tags(span)
        ]
        assert sql, f"no SQL span under RunActivity:{activity}"

    # A publish span per event the order's trace appended, each on the event's own id.
    publishes = {
        _tags(span)["messaging.message.id"]: span
        for span in spans
        if _tags(span).get("span.kind") == "producer"
    }
    assert set(publishes) == {str(row.event_id) for row in events}

    # Only this trace runs the order's saga: no step split off into a trace of its own.
    # (Each GET of the order is a trace of its own, with its status query: not the saga.)
    runs = await asyncio.to_thread(jaeger.traces, "order-worker-orders", 500)
    of_order = {
        found["traceID"]
        for found in runs
        for span in found["spans"]
        if _tags(span).get("temporalWorkflowID") == f"order-{order_id}"
        and span["operationName"].startswith(SAGA_SPANS)
    }
    assert of_order == {trace_id}
    # tools.trace finds it by order id and draws it from the POST down.
    assert await asyncio.to_thread(find_order_trace, jaeger.query_url, order_id) == trace_id
    drawn = list(render(trace))
    assert drawn[1].split() == ["order-api", "POST", "/orders", *drawn[1].split()[3:]]

    # On Kafka, each message's traceparent is its publish span: same trace, that parent.
    per_topic = Counter(topic_for(row.aggregate_type, stack.kafka) for row in all_events)
    carried = set()
    for topic, count in per_topic.items():
        messages = await asyncio.to_thread(
            consume_all, stack.kafka.bootstrap_servers, topic, count, 30
        )
        assert len(messages) == count
        for message in messages:
            headers = header_map(message)
            if headers["ce_id"] not in publishes:
                continue  # the catalog seed's stock events, written outside any trace
            _, carried_trace, parent, _ = headers["traceparent"].split("-")
            assert (carried_trace, parent) == (trace_id, publishes[headers["ce_id"]]["spanID"])
            carried.add(headers["ce_id"])
    assert carried == set(publishes)

    # The log line of an activity for this order sits in the same trace as the request's.
    reserve = [
        line
        for line in stack.log_lines("worker-inventory")
        if line.get("order_id") == order_id and line.get("activity") == "reserve_inventory"
    ]
    assert reserve, "no log line of reserve_inventory for the order"
    assert {line["trace_id"] for line in reserve} == {trace_id}
    assert reserve[0]["workflow_id"] == f"order-{order_id}"
    assert reserve[0]["attempt"] == 1
    assert len(reserve[0]["span_id"]) == 16
