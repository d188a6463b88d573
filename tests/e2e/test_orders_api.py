"""The HTTP API end to end: real PostgreSQL, a real Temporal dev server, the real workers.

Each test gets its own database and its own task queues, and drives the app in-process
through httpx with the app's lifespan running (see harness.py).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from temporalio.client import Client

from api import read_model
from api.schemas import OrderCreate
from api.services.idempotency import purge_expired, request_hash
from config.settings import TemporalSettings
from persistence.event_store import load_timeline
from persistence.payments import idempotency_key
from persistence.tables import IdempotencyKeyRow, utc_now
from tests.e2e.harness import TERMINAL, Api, running_api


async def test_submitted_order_is_accepted_then_confirmed(api: Api) -> None:
    """POST answers 202 PENDING with a Location; the saga then confirms the order."""
    response = await api.place("alice")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "PENDING"
    assert accepted["total_amount"] == "49.80"
    assert response.headers["Location"] == f"/orders/{accepted['order_id']}"

    order = await api.wait_for(accepted["order_id"], "alice", TERMINAL)
    assert order["status"] == "CONFIRMED"
    assert order["source"] == "read_model"
    assert order["items"] == [
        {"product_id": "sku-beans", "quantity": 2, "unit_price": "24.90", "line_total": "49.80"}
    ]
    assert order["payment"]["status"] == "CAPTURED"
    assert [notice["type"] for notice in order["notifications"]] == ["ORDER_CONFIRMED"]


async def test_an_order_not_recorded_yet_is_read_from_its_saga(
    pg_url: str, temporal_settings: TemporalSettings, temporal_client: Client
) -> None:
    """Before the first activity records it, the order is answered from the workflow:
    its status query and its input (items, prices), and it can already be cancelled."""
    async with running_api(pg_url, temporal_settings, temporal_client, activities=False) as api:
        order_id = (await api.place("alice")).json()["order_id"]
        response = await api.http.get(f"/orders/{order_id}", headers=api.auth("alice"))
        assert response.status_code == 200
        order = response.json()
        assert (order["source"], order["status"], order["total_amount"]) == (
            "workflow",
            "PENDING",
            "49.80",
        )
        assert order["items"][0]["unit_price"] == "24.90"
        timeline = await api.http.get(f"/orders/{order_id}/events", headers=api.auth("alice"))
        assert timeline.json()["events"] == []
        bob = await api.http.get(f"/orders/{order_id}", headers=api.auth("bob"))
        assert bob.status_code == 404
        cancel = await api.http.post(f"/orders/{order_id}/cancel", headers=api.auth("alice"))
        assert cancel.status_code == 202
        after = (await api.http.get(f"/orders/{order_id}", headers=api.auth("alice"))).json()
        assert after["cancel_reason"] == "cancelled by the customer"


async def test_declined_card_ends_payment_failed(api: Api) -> None:
    """The gateway declines tok_chargeDeclined: the order ends PAYMENT_FAILED, no money taken."""
    response = await api.place("alice", token="tok_chargeDeclined")
    order = await api.wait_for(response.json()["order_id"], "alice", TERMINAL)
    assert order["status"] == "PAYMENT_FAILED"
    assert order["payment"]["status"] == "FAILED"
    assert "declined" in order["failure_reason"]


async def test_cancel_during_the_charge_refunds_and_ends_cancelled(
    pg_url: str, temporal_settings: TemporalSettings, temporal_client: Client
) -> None:
    """A cancel accepted while the charge is in flight wins after it: refund, then CANCELLED."""
    async with running_api(pg_url, temporal_settings, temporal_client, 1500) as slow:
        order_id = (await slow.place("alice")).json()["order_id"]
        for _ in range(200):  # until the charge has reached the (slow) gateway
            if slow.gateway.calls:
                break
            await asyncio.sleep(0.05)
        cancel = await slow.http.post(
            f"/orders/{order_id}/cancel",
            json={"reason": "changed my mind"},
            headers=slow.auth("alice"),
        )
        assert cancel.status_code == 202, cancel.text
        order = await slow.wait_for(order_id, "alice", TERMINAL)
        assert order["status"] == "CANCELLED"
        assert order["payment"]["status"] == "REFUNDED"
        assert order["payment"]["refunded_at"] is not None
        again = await slow.http.post(f"/orders/{order_id}/cancel", headers=slow.auth("alice"))
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"


async def test_idempotent_replay_returns_the_same_order_and_charges_once(api: Api) -> None:
    """Concurrent and later repeats with one key yield one order, one saga and one charge."""
    key = str(uuid.uuid4())
    responses = await asyncio.gather(*(api.place("alice", key=key) for _ in range(4)))
    # Racing duplicates either wait their turn (409) or get the one order.
    assert {r.status_code for r in responses} <= {202, 409}
    order_ids = {r.json()["order_id"] for r in responses if r.status_code == 202}
    assert len(order_ids) == 1
    (order_id,) = order_ids
    await api.wait_for(order_id, "alice", TERMINAL)

    replay = await api.place("alice", key=key)
    assert replay.status_code == 202
    assert replay.json()["order_id"] == order_id
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert api.gateway.charge_count(idempotency_key(order_id)) == 1
    listed = await api.http.get("/orders", headers=api.auth("alice"))
    assert [o["order_id"] for o in listed.json()["data"]] == [order_id]


async def test_same_key_with_another_body_is_refused(api: Api) -> None:
    """Reusing an Idempotency-Key for a different order is a 422, not a second order."""
    key = str(uuid.uuid4())
    assert (await api.place("alice", key=key)).status_code == 202
    other = await api.place("alice", key=key, items=[{"product_id": "sku-mug", "quantity": 1}])
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"
    # Keys are per customer: bob may use the same key for his own order.
    assert (await api.place("bob", key=key)).status_code == 202


async def test_unknown_product_is_a_422_naming_it(api: Api) -> None:
    """Prices come from the catalog: an unknown product is refused, naming it."""
    response = await api.place("alice", items=[{"product_id": "sku-nope", "quantity": 1}])
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert "sku-nope" in problem["detail"]
    assert problem["errors"][0]["pointer"] == "#/items/0/product_id"


async def test_another_customers_order_is_not_found(api: Api) -> None:
    """Bob cannot see that Alice's order exists: 404, the same as an unknown id."""
    order_id = (await api.place("alice")).json()["order_id"]
    response = await api.http.get(f"/orders/{order_id}", headers=api.auth("bob"))
    assert response.status_code == 404
    assert response.json()["status"] == 404


async def test_timeline_lists_the_orders_events_in_version_order(api: Api) -> None:
    """GET /orders/{id}/events is the order's event store stream, oldest first."""
    order_id = (await api.place("alice")).json()["order_id"]
    await api.wait_for(order_id, "alice", {"CONFIRMED"})
    response = await api.http.get(f"/orders/{order_id}/events", headers=api.auth("alice"))
    assert response.status_code == 200
    events = response.json()["events"]
    assert [event["version"] for event in events] == list(range(1, len(events) + 1))
    types = [event["event_type"] for event in events]
    assert types[0] == "OrderCreated"
    assert {"InventoryReserved", "PaymentProcessed", "OrderConfirmed"} <= set(types)
    assert events[0]["data"]["total_amount"] == "49.80"


async def test_a_crashed_request_is_taken_over_with_its_order_id(api: Api) -> None:
    """A key IN_PROGRESS is 409 while fresh; once abandoned, a retry resumes its order id."""
    key, order_id = "retry-me", str(uuid.uuid4())
    body = OrderCreate.model_validate(
        {"items": [{"product_id": "sku-beans", "quantity": 2}], "payment": {"token": "tok_visa"}}
    )
    async with api.sessions() as session:
        session.add(
            IdempotencyKeyRow(
                customer_id="alice",
                key=key,
                request_hash=request_hash(body.model_dump(mode="json")),
                order_id=order_id,
                expires_at=utc_now() + timedelta(days=1),
            )
        )
        await session.commit()
    in_flight = await api.place("alice", key=key)
    assert in_flight.status_code == 409
    assert int(in_flight.headers["Retry-After"]) > 0

    async with api.sessions() as session:
        row = await session.get(IdempotencyKeyRow, ("alice", key))
        assert row is not None
        row.created_at = utc_now() - timedelta(minutes=1)  # the first request died
        await session.commit()
    resumed = await api.place("alice", key=key)
    assert resumed.status_code == 202
    assert resumed.json()["order_id"] == order_id
    assert (await api.wait_for(order_id, "alice", TERMINAL))["status"] == "CONFIRMED"


async def test_orders_are_listed_newest_first_a_page_at_a_time(api: Api) -> None:
    """Cursor paging walks the caller's orders newest first; status filters them."""
    placed = [(await api.place("alice", token=t)).json()["order_id"] for t in ("tok_visa",) * 2]
    placed.append((await api.place("alice", token="tok_chargeDeclined")).json()["order_id"])
    for order_id in placed:
        await api.wait_for(order_id, "alice", TERMINAL)
    await api.place("bob")
    alice = api.auth("alice")
    first = (await api.http.get("/orders", params={"limit": 2}, headers=alice)).json()
    params = {"limit": 2, "cursor": first["next_cursor"]}
    second = (await api.http.get("/orders", params=params, headers=alice)).json()
    assert [o["order_id"] for o in first["data"] + second["data"]] == placed[::-1]
    assert second["next_cursor"] is None
    failed = await api.http.get("/orders", params={"status": "PAYMENT_FAILED"}, headers=alice)
    assert [o["order_id"] for o in failed.json()["data"]] == placed[2:]
    bad = await api.http.get("/orders", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=alice)
    assert bad.status_code == 422


async def test_limits_and_malformed_requests_are_problem_documents(api: Api) -> None:
    """Configured limits, mixed currencies, oversized bodies and unknown routes: RFC 9457."""
    too_many = api.settings.api.max_quantity_per_item + 1
    over = await api.place("alice", items=[{"product_id": "sku-beans", "quantity": too_many}])
    assert over.status_code == 422
    assert over.json()["errors"][0]["loc"] == ["body", "items", 0, "quantity"]
    mixed = [
        {"product_id": "sku-beans", "quantity": 1},
        {"product_id": "sku-dollar-mug", "quantity": 1},
    ]
    assert (await api.place("alice", items=mixed)).json()["type"] == "/problems/mixed-currencies"
    huge = await api.http.post(
        "/orders",
        content=b" " * (api.settings.api.max_body_bytes + 1),
        headers=api.auth("alice") | {"Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    for response in (huge, await api.http.get("/nowhere"), await api.http.delete("/healthz")):
        assert response.headers["content-type"] == "application/problem+json"
        assert {"type", "title", "status", "instance"} <= response.json().keys()


async def test_readiness_reports_dependencies_and_the_outbox_backlog(api: Api) -> None:
    """/readyz checks database and Temporal and counts events no relay has published yet."""
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    order_id = (await api.place("alice")).json()["order_id"]
    await api.wait_for(order_id, "alice", {"CONFIRMED"})
    ready = (await api.http.get("/readyz")).json()
    assert ready["checks"] == {"database": "ok", "temporal": "ok"}
    assert ready["outbox"]["unpublished"] >= 4
    assert ready["outbox"]["oldest_age_seconds"] >= 0


async def test_catalog_admins_create_and_restock_products_with_an_event(api: Api) -> None:
    """A restock writes the stock change and InventoryRestocked in one transaction."""
    admin = api.auth("root", role=api.settings.auth.catalog_admin_role)
    product = {"id": "sku-kettle", "name": "Kettle", "unit_price": "54.00", "currency": "EUR"}
    created = await api.http.post("/products", json=product | {"initial_stock": 5}, headers=admin)
    assert created.status_code == 201
    assert created.headers["Location"] == "/products/sku-kettle"
    again = await api.http.post("/products", json=product, headers=admin)
    assert again.status_code == 409

    restock = {"add_quantity": 10, "reorder_point": 3}
    response = await api.http.put("/products/sku-kettle/stock", json=restock, headers=admin)
    assert response.status_code == 200
    assert response.json()["stock"] == {
        "quantity": 15,
        "reserved": 0,
        "available": 15,
        "reorder_point": 3,
        "reorder_quantity": 0,
    }
    async with api.sessions() as session:
        events = await load_timeline(session, "sku-kettle")
    assert [(e.event_type, e.event_data["quantity_on_hand"]) for e in events] == [
        ("InventoryRestocked", 5),
        ("InventoryRestocked", 15),
    ]


async def test_an_unexpected_failure_is_a_500_problem_hiding_its_cause(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catch-all logs the exception and answers a problem without internals."""

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("secret connection string")

    monkeypatch.setattr(read_model, "list_products", broken)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        response = await http.get("/products", headers=api.auth("alice"))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret" not in response.text


async def test_expired_idempotency_keys_are_purged_and_live_ones_kept(api: Api) -> None:
    """The periodic purge deletes only keys past their expiry."""
    now = utc_now()
    async with api.sessions() as session:
        for key, expires in (
            ("old", now - timedelta(seconds=1)),
            ("live", now + timedelta(hours=24)),
        ):
            session.add(
                IdempotencyKeyRow(
                    customer_id="carol", key=key, request_hash="x", expires_at=expires
                )
            )
        await session.commit()
    async with api.sessions() as session:
        assert await purge_expired(session, now) == 1
    async with api.sessions() as session:
        assert await session.get(IdempotencyKeyRow, ("carol", "old")) is None
        assert await session.get(IdempotencyKeyRow, ("carol", "live")) is not None
