"""Who did it: every event records its actor, and the order timeline shows it.

HTTP calls record the caller's subject and role from the verified token (placing,
cancelling, restocking); a CLI ``cancel`` signal records the operator its input declares;
whatever the saga decides by itself is recorded as the system.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client

from config.settings import TemporalSettings
from messages.queues import order_workflow_id
from persistence.event_store import load_timeline
from tests.e2e.harness import TERMINAL, Api, running_api
from tests.workflows.fakes import CANCEL_SIGNAL

SYSTEM = {"kind": "system", "subject": "order-saga", "role": None}


async def _timeline(api: Api, order_id: str, subject: str) -> list[dict[str, Any]]:
    response = await api.http.get(f"/orders/{order_id}/events", headers=api.auth(subject))
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def _actors(events: list[dict[str, Any]]) -> dict[str, dict[str, Any] | None]:
    return {event["event_type"]: event["actor"] for event in events}


async def _until_charging(api: Api) -> None:
    for _ in range(200):  # until the charge has reached the (slow) gateway
        if api.gateway.calls:
            return
        await asyncio.sleep(0.05)


async def test_placing_records_the_customer_and_the_sagas_steps_the_system(api: Api) -> None:
    """OrderCreated names the token's subject and role; the saga's own steps name the system."""
    order_id = (await api.place("alice")).json()["order_id"]
    await api.wait_for(order_id, "alice", {"CONFIRMED"})
    actors = _actors(await _timeline(api, order_id, "alice"))
    assert actors["OrderCreated"] == {"kind": "user", "subject": "alice", "role": "customer"}
    for decided_by_the_saga in ("InventoryReserved", "PaymentProcessed", "OrderConfirmed"):
        assert actors[decided_by_the_saga] == SYSTEM, decided_by_the_saga


async def test_an_operators_cancel_and_a_catalog_admins_restock_record_them_in_their_roles(
    pg_url: str, temporal_settings: TemporalSettings, temporal_client: Client
) -> None:
    """The operator who cancels a customer's order is its OrderCancelled's actor, not the
    customer; the compensations stay the saga's. A restock names the catalog admin."""
    async with running_api(pg_url, temporal_settings, temporal_client, 1000) as slow:
        operator = slow.auth("root", role=slow.settings.auth.operator_role)
        catalog_admin = slow.auth("cat", role=slow.settings.auth.catalog_admin_role)
        order_id = (await slow.place("alice")).json()["order_id"]
        await _until_charging(slow)
        cancel = await slow.http.post(f"/orders/{order_id}/cancel", headers=operator)
        assert cancel.status_code == 202, cancel.text
        assert (await slow.wait_for(order_id, "alice", TERMINAL))["status"] == "CANCELLED"
        actors = _actors(await _timeline(slow, order_id, "alice"))
        assert actors["OrderCreated"] == {"kind": "user", "subject": "alice", "role": "customer"}
        assert actors["OrderCancelled"] == {"kind": "user", "subject": "root", "role": "operator"}
        assert actors["InventoryReleased"] == SYSTEM

        restock = await slow.http.put(
            "/products/sku-mug/stock", json={"add_quantity": 5}, headers=catalog_admin
        )
        assert restock.status_code == 200, restock.text
        async with slow.sessions() as session:
            [restocked] = await load_timeline(session, "sku-mug")
        assert restocked.actor == {"kind": "user", "subject": "cat", "role": "catalog-admin"}


async def test_a_cli_cancel_records_the_operator_its_input_declares(
    pg_url: str, temporal_settings: TemporalSettings, temporal_client: Client
) -> None:
    """``temporal workflow signal --name cancel --input '{"reason": …, "operator": …}'``:
    the declared operator is OrderCancelled's actor (declared, not verified)."""
    async with running_api(pg_url, temporal_settings, temporal_client, 1000) as slow:
        order_id = (await slow.place("alice")).json()["order_id"]
        await _until_charging(slow)
        handle = temporal_client.get_workflow_handle(order_workflow_id(order_id))
        # Plain JSON, exactly what the CLI's --input sends.
        await handle.signal(CANCEL_SIGNAL, {"reason": "customer called", "operator": "ops-anna"})
        order = await slow.wait_for(order_id, "alice", TERMINAL)
        assert order["status"] == "CANCELLED"
        events = await _timeline(slow, order_id, "alice")
        cancelled = next(e for e in events if e["event_type"] == "OrderCancelled")
        assert cancelled["actor"] == {"kind": "operator", "subject": "ops-anna", "role": None}
        assert cancelled["data"]["reason"] == "customer called"
