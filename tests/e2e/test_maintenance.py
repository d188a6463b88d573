"""The maintenance switch with the real app, workers, Temporal and PostgreSQL: while it is
on, new orders get 503 with the operator's reason and Retry-After and leave nothing behind;
orders in flight finish; a replay of an order placed earlier still answers; the probes stay
ready and say so; another API process sees the switch within its check interval; a
deployment's setting holds it on. Switched off, orders are taken again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from prometheus_client import REGISTRY
from sqlmodel import select

from api import create_app
from config.settings import Settings
from persistence.tables import IdempotencyKeyRow
from tests.e2e.harness import Api

ON = {"active": True, "reason": "database upgrade", "retry_after_seconds": 600}


def switch_metric() -> float | None:
    return REGISTRY.get_sample_value("orders_maintenance_switch")


@asynccontextmanager
async def another_replica(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A second API process on the same database, as a second pod would be."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as http,
    ):
        yield http


async def test_new_orders_wait_while_those_in_flight_finish(api: Api) -> None:
    api.gateway.outage(True)  # an order in flight: its charge waits for the provider
    before = await api.place("ada", key="placed-before")
    assert before.status_code == 202, before.text
    in_flight = before.json()["order_id"]

    switched = await api.http.put("/maintenance", json=ON, headers=api.auth("olga", "operator"))
    assert switched.status_code == 200, switched.text
    assert switched.json() | {"changed_at": None} == {
        "active": True,
        "reason": "database upgrade",
        "retry_after_seconds": 600,
        "held_by_setting": False,
        "changed_by": "olga",
        "changed_at": None,
    }
    refused = await api.place("ada", key="placed-during")
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "600"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/maintenance"
    assert refused.json()["detail"] == "New orders are paused for maintenance: database upgrade"
    async with api.sessions() as session:
        claims = (await session.exec(select(IdempotencyKeyRow.order_id))).all()
    refused_id = next(order_id for order_id in claims if order_id != in_flight)
    # Nothing started for the refused POST: its order id names no saga and no order.
    assert (await api.http.get(f"/orders/{refused_id}", headers=_ada(api))).status_code == 404

    replay = await api.place("ada", key="placed-before")
    assert replay.status_code == 202
    assert replay.json()["order_id"] == in_flight
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["maintenance"]["active"] is True
    assert switch_metric() == 1.0

    api.gateway.outage(False)
    assert (await api.wait_for(in_flight, "ada", {"CONFIRMED"}))["status"] == "CONFIRMED"

    off = await api.http.put(
        "/maintenance", json={"active": False}, headers=api.auth("olga", "operator")
    )
    assert off.status_code == 200
    assert off.json()["active"] is False
    assert switch_metric() == 0.0
    again = await api.place("ada", key="placed-during")  # the refused key takes over at once
    assert again.status_code == 202, again.text
    assert await api.wait_for(again.json()["order_id"], "ada", {"CONFIRMED"})


async def test_another_api_process_sees_the_switch_within_its_check_interval(api: Api) -> None:
    async with another_replica(api.settings) as replica:
        assert (await replica.post("/orders", json=_order(), headers=_ada(api))).status_code == 202
        await api.http.put("/maintenance", json=ON, headers=api.auth("olga", "operator"))
        check = api.settings.api.maintenance_check_seconds
        await asyncio.sleep(check + 0.5)
        refused = await replica.post("/orders", json=_order(), headers=_ada(api))
        assert refused.status_code == 503
        assert refused.json()["type"] == "/problems/maintenance"


async def test_a_deployment_setting_holds_the_switch_on(api: Api) -> None:
    held = api.settings.model_copy(
        update={"api": api.settings.api.model_copy(update={"maintenance": True})}
    )
    async with another_replica(held) as replica:
        state = await replica.get("/maintenance", headers=api.auth("sam", "support"))
        assert state.status_code == 200
        assert (state.json()["active"], state.json()["held_by_setting"]) == (True, True)
        refused = await replica.post("/orders", json=_order(), headers=_ada(api))
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == str(
            api.settings.api.maintenance_retry_after_seconds
        )
        off = await replica.put(
            "/maintenance", json={"active": False}, headers=api.auth("olga", "operator")
        )
        assert off.status_code == 409
        assert off.json()["type"] == "/problems/maintenance-forced"
        assert "ORDERS_API__MAINTENANCE" in off.json()["detail"]
    # The other process, without the setting, still takes orders: nothing was stored.
    assert (await api.place("ada")).status_code == 202


async def test_only_staff_read_and_only_operators_set_the_switch(api: Api) -> None:
    assert (await api.http.get("/maintenance", headers=_ada(api))).status_code == 403
    assert (
        await api.http.put("/maintenance", json=ON, headers=api.auth("sam", "support"))
    ).status_code == 403
    assert (await api.http.get("/maintenance", headers=api.auth("sam", "support"))).json()[
        "active"
    ] is False
    missing_reason = await api.http.put(
        "/maintenance", json={"active": True}, headers=api.auth("olga", "operator")
    )
    assert missing_reason.status_code == 422
    assert "reason" in missing_reason.text
    assert (await api.place("ada")).status_code == 202  # refusals changed nothing


def _order() -> dict[str, object]:
    return {
        "items": [{"product_id": "sku-beans", "quantity": 1}],
        "payment": {"method": "card", "token": "tok_visa"},
    }


def _ada(api: Api) -> dict[str, str]:
    return api.auth("ada", "customer")
