"""The two waiting states end to end: the API, the production workers, real PostgreSQL, the
Temporal dev server and its CLI, and the simulated provider.

NEEDS_ATTENTION is reached by a provider outage longer than a (test-shortened) charge
budget and left by the operator's CLI commands; PAYMENT_PENDING by the provider's
3-D Secure test token and left by the signal its webhook sends.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import pytest
from sqlmodel import col, select
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from config.settings import SagaSettings, TemporalSettings
from devstack.temporal import temporal_cli
from gateways.payment_gateway import GatewayRequestError
from messages.queues import order_workflow_id
from messages.saga import PaymentOutcome
from messages.search_attributes import CUSTOMER_ID, NEEDS_ATTENTION_SINCE, ORDER_TOTAL
from persistence.event_store import load_timeline
from persistence.payments import idempotency_key
from persistence.tables import RESERVATION_RESERVED, InventoryReservationRow
from tests.e2e.harness import TERMINAL, Api, running_api
from tools.customer_action import complete_customer_action
from workflows.order_saga import OrderSaga

SHORT = SagaSettings(charge_budget_seconds=2)


async def temporal(settings: TemporalSettings, *args: str) -> str:
    """Run the Temporal CLI as an operator would, against the test's server."""
    done = await asyncio.to_thread(
        subprocess.run,
        [str(temporal_cli()), *args, "--address", settings.address],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def listed(settings: TemporalSettings, query: str, count: int) -> list[dict[str, Any]]:
    """``temporal workflow list --query`` until it lists ``count`` executions (visibility lags)."""
    found: list[dict[str, Any]] = []
    for _ in range(100):
        out = await temporal(settings, "workflow", "list", "--query", query, "--output", "json")
        found = json.loads(out) if out.strip() else []
        if len(found) == count:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"{query!r} listed {len(found)}, not {count}")


async def reservations(api: Api, order_id: str) -> list[str]:
    async with api.sessions() as session:
        rows = await session.exec(
            select(InventoryReservationRow.status).where(
                col(InventoryReservationRow.order_id) == order_id
            )
        )
        return list(rows.all())


async def event_types(api: Api, order_id: str) -> list[str]:
    async with api.sessions() as session:
        return [row.event_type for row in await load_timeline(session, order_id)]


async def recorded(api: Api, order_id: str, status: str) -> dict[str, Any]:
    """GET until the read model itself (not the saga's live state) shows ``status``."""
    for _ in range(100):
        order = await api.wait_for(order_id, "alice", {status})
        if order["source"] == "read_model":
            return order
        await asyncio.sleep(0.1)
    raise AssertionError(f"the read model never recorded {order_id} as {status}")


def parked_here(api: Api) -> str:
    queue = f"{api.settings.temporal.task_queue_prefix}orders"
    return f"OrderStatus='NEEDS_ATTENTION' AND TaskQueue='{queue}'"


async def test_an_outage_past_the_budget_parks_and_the_cli_retry_confirms_once(
    pg_url: str, temporal_settings: TemporalSettings, temporal_client: Client
) -> None:
    """Outage past the charge budget: NEEDS_ATTENTION in the API and the CLI's list, stock
    still reserved; outage over, `temporal workflow signal --name retry`: CONFIRMED, one charge."""
    async with running_api(pg_url, temporal_settings, temporal_client, saga=SHORT) as api:
        api.gateway.outage(True)
        order_id = (await api.place("alice")).json()["order_id"]
        live = await api.wait_for(order_id, "alice", {"NEEDS_ATTENTION"})
        parked = await recorded(api, order_id, "NEEDS_ATTENTION")
        found = await listed(temporal_settings, parked_here(api), 1)
        support = api.auth("root", role=api.settings.auth.support_role)
        page = await api.http.get("/orders?status=NEEDS_ATTENTION", headers=support)
        held = await reservations(api, order_id)
        handle = temporal_client.get_workflow_handle(order_workflow_id(order_id))
        described = await handle.describe()
        summary, details = await described.static_summary(), await described.static_details()
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)

        api.gateway.outage(False)
        await temporal(
            temporal_settings,
            "workflow",
            "signal",
            "--workflow-id",
            order_workflow_id(order_id),
            "--name",
            "retry",
            "--input",
            '{"operator": "alice"}',
        )
        order = await api.wait_for(order_id, "alice", TERMINAL)
        timeline = await event_types(api, order_id)
    assert live["status"] == parked["status"] == "NEEDS_ATTENTION"
    assert "simulated outage" in parked["failure_reason"]
    assert found[0]["execution"]["workflowId"] == order_workflow_id(order_id)
    assert [o["order_id"] for o in page.json()["data"]] == [order_id]
    assert held == [RESERVATION_RESERVED]
    # What the Web UI shows: the order, its step and its last error; no personal data.
    assert summary == f"Order {order_id}: 2 items, 49.80 EUR"
    assert details is not None
    assert "sku-beans" in details
    for shown in (summary, details, metadata.current_details):
        assert "alice@example.com" not in shown
        assert "tok_visa" not in shown
    assert "NEEDS_ATTENTION" in metadata.current_details
    assert "`charge`" in metadata.current_details
    assert "simulated outage" in metadata.current_details
    attributes = described.typed_search_attributes
    assert attributes.get(ORDER_TOTAL) == 49.8
    assert attributes.get(CUSTOMER_ID) == "alice"
    assert attributes.get(NEEDS_ATTENTION_SINCE) is not None
    assert order["status"] == "CONFIRMED"
    assert order["payment"]["status"] == "CAPTURED"
    assert api.gateway.charge_count(idempotency_key(order_id)) == 1
    assert timeline.index("OrderNeedsAttention") < timeline.index("OrderRetried")
    assert timeline[-1] in {"OrderConfirmed", "NotificationSent"}


async def test_a_batch_retry_over_the_query_moves_every_parked_order_on(
    pg_url: str, temporal_settings: TemporalSettings, temporal_client: Client
) -> None:
    """`temporal workflow signal --query "OrderStatus='NEEDS_ATTENTION' …" --name retry`."""
    async with running_api(pg_url, temporal_settings, temporal_client, saga=SHORT) as api:
        api.gateway.outage(True)
        ids = [(await api.place("alice")).json()["order_id"] for _ in range(2)]
        for order_id in ids:
            await api.wait_for(order_id, "alice", {"NEEDS_ATTENTION"})
        await listed(temporal_settings, parked_here(api), 2)
        api.gateway.outage(False)
        await temporal(
            temporal_settings,
            "workflow",
            "signal",
            "--query",
            parked_here(api),
            "--name",
            "retry",
            "--reason",
            "provider back",
            "--yes",
        )
        orders = [await api.wait_for(order_id, "alice", TERMINAL) for order_id in ids]
    assert [order["status"] for order in orders] == ["CONFIRMED", "CONFIRMED"]
    assert [api.gateway.charge_count(idempotency_key(i)) for i in ids] == [1, 1]


async def _pending(api: Api) -> tuple[str, dict[str, Any]]:
    order_id = (await api.place("alice", token="tok_threeDSecureRequired")).json()["order_id"]
    return order_id, await recorded(api, order_id, "PAYMENT_PENDING")


async def test_a_payment_needing_the_customer_waits_then_confirms_on_the_report(
    pg_url: str, temporal_settings: TemporalSettings, temporal_client: Client
) -> None:
    """GET shows PAYMENT_PENDING and the next action; the customer authenticates and the
    provider's report (the signal its webhook sends) confirms the order, charged once."""
    async with running_api(pg_url, temporal_settings, temporal_client) as api:
        order_id, pending = await _pending(api)
        charge = await api.gateway.find_charge(idempotency_key(order_id))
        assert charge is not None
        report = await complete_customer_action(
            api.gateway, temporal_client, order_id, succeed=True
        )
        handle = temporal_client.get_workflow_handle(order_workflow_id(order_id))
        await handle.signal(OrderSaga.payment_succeeded, report)  # the webhook delivered twice
        order = await api.wait_for(order_id, "alice", TERMINAL)
        timeline = await event_types(api, order_id)
    assert pending["next_action"] == charge.next_action
    assert pending["payment"]["status"] == "PENDING"
    assert order["status"] == "CONFIRMED"
    assert order["payment"]["status"] == "CAPTURED"
    assert order["next_action"] is None
    assert api.gateway.charge_count(idempotency_key(order_id)) == 1
    assert timeline.count("PaymentProcessed") == 1
    assert "PaymentActionRequired" in timeline


async def test_a_failed_customer_action_ends_payment_failed_with_stock_released(
    pg_url: str, temporal_settings: TemporalSettings, temporal_client: Client
) -> None:
    """The provider reports the payment failed: PAYMENT_FAILED, stock released, no refund."""
    async with running_api(pg_url, temporal_settings, temporal_client) as api:
        order_id, _ = await _pending(api)
        charge = await api.gateway.find_charge(idempotency_key(order_id))
        assert charge is not None
        await api.gateway.complete_action(charge.reference, succeed=False)
        report = PaymentOutcome(
            provider_event_id="evt_2", reference=charge.reference, reason="authentication failed"
        )
        handle = temporal_client.get_workflow_handle(order_workflow_id(order_id))
        await handle.signal(OrderSaga.payment_failed, report)
        order = await api.wait_for(order_id, "alice", TERMINAL)
        held = await reservations(api, order_id)
        history = await handle.fetch_history()
        closed = await api.gateway.find_charge(idempotency_key(order_id))
        with pytest.raises(GatewayRequestError):
            await api.gateway.complete_action(charge.reference, succeed=True)
    assert order["status"] == "PAYMENT_FAILED"
    assert order["payment"]["status"] == "FAILED"
    assert order["failure_reason"] == "authentication failed"
    assert held == ["RELEASED"]
    assert "refund_payment" not in history.to_json()
    assert closed is not None
    assert closed.status == "VOIDED"  # closed at the provider: nothing can be taken later


async def test_no_report_within_the_timeout_voids_the_charge(
    pg_url: str, temporal_settings: TemporalSettings, temporal_client: Client
) -> None:
    """The customer never acts: after the (shortened) timeout the charge is voided at the
    provider, the stock released, and the order PAYMENT_FAILED."""
    saga = SagaSettings(payment_action_timeout_seconds=2)
    async with running_api(pg_url, temporal_settings, temporal_client, saga=saga) as api:
        order_id, _ = await _pending(api)
        order = await api.wait_for(order_id, "alice", TERMINAL)
        charge = await api.gateway.find_charge(idempotency_key(order_id))
        held = await reservations(api, order_id)
    assert order["status"] == "PAYMENT_FAILED"
    assert order["failure_reason"] == "the payment was not completed in time"
    assert order["payment"]["status"] == "VOIDED"
    assert charge is not None
    assert charge.status == "VOIDED"
    assert held == ["RELEASED"]
