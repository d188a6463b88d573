"""After-sale refunds end to end: the API, the production workers, real PostgreSQL, the
Temporal dev server, the simulated provider, and the outbox relay on a real Kafka broker."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, select
from temporalio.client import Client

from config.settings import DatabaseSettings
from devstack.kafka import KafkaBroker
from messages.refund import refund_workflow_id
from outbox.cloudevents import ce_type
from outbox.relay import build_relay
from persistence.event_store import load_timeline
from persistence.payments import idempotency_key
from persistence.tables import EventRow, InventoryRow, NotificationRow
from tests.e2e.harness import Api
from tests.integration.outbox_helpers import (
    FAST_OUTBOX,
    header_map,
    kafka_settings,
    read_topics,
    running,
    wait_until_published,
)

OPERATOR = "ops-alice"


async def confirmed_order(api: Api, subject: str, items: list[dict[str, Any]]) -> str:
    placed = await api.place(subject, items=items)
    assert placed.status_code == 202, placed.text
    order_id: str = placed.json()["order_id"]
    await api.wait_for(order_id, subject, {"CONFIRMED"})
    return order_id


async def reserved(api: Api, product_id: str) -> int:
    async with api.sessions() as session:
        row = await session.get(InventoryRow, product_id, populate_existing=True)
        assert row is not None
        return row.reserved


async def refund(api: Api, order_id: str, **body: Any) -> Any:
    return await api.http.post(
        f"/orders/{order_id}/refund",
        json={"reason": "returned by the customer", **body},
        headers=api.auth(OPERATOR, "operator"),
    )


async def event_types(api: Api, order_id: str) -> list[str]:
    async with api.sessions() as session:
        return [row.event_type for row in await load_timeline(session, order_id)]


async def test_a_refund_gives_the_money_back_once_and_the_stock_back(
    api: Api, temporal_client: Client, kafka_broker: KafkaBroker, pg_url: str
) -> None:
    """The same refund asked twice at once: one runs (202), the other is refused (409);
    the provider refunds once, the stock comes back, OrderRefunded reaches Kafka, and a
    third request after it finished is refused too."""
    order_id = await confirmed_order(api, "cust-1", [{"product_id": "sku-beans", "quantity": 2}])
    before = await reserved(api, "sku-beans")

    first, second = await asyncio.gather(refund(api, order_id), refund(api, order_id))

    assert sorted([first.status_code, second.status_code]) == [202, 409], (first, second)
    accepted = first if first.status_code == 202 else second
    assert accepted.json()["amount"] == "49.80"
    assert accepted.json()["workflow_id"] == refund_workflow_id(order_id)
    outcome = await temporal_client.get_workflow_handle(refund_workflow_id(order_id)).result()
    assert outcome["refund_reference"].startswith("re_")

    charge = await api.gateway.find_charge(idempotency_key(order_id))
    assert charge is not None
    assert charge.status.value == "REFUNDED"
    assert api.gateway.refund_count(charge.reference) == 1
    assert await reserved(api, "sku-beans") == before - 2
    order = await api.wait_for(order_id, "cust-1", {"REFUNDED"})
    assert order["payment"]["status"] == "REFUNDED"
    types = await event_types(api, order_id)
    assert types.count("OrderRefunded") == 1
    assert {"PaymentRefunded", "InventoryReturned"} <= set(types)
    timeline = await api.http.get(f"/orders/{order_id}/events", headers=api.auth("cust-1"))
    refunded = [e for e in timeline.json()["events"] if e["event_type"] == "OrderRefunded"]
    assert refunded[0]["data"]["actor"] == OPERATOR
    # The envelope: the verified subject, in the role it asked in.
    assert refunded[0]["actor"] == {"kind": "user", "subject": OPERATOR, "role": "operator"}
    assert refunded[0]["data"]["refund_reference"] == charge.refund_reference

    again = await refund(api, order_id)
    assert again.status_code == 409, again.text
    assert api.gateway.refund_count(charge.reference) == 1

    kafka = kafka_settings(kafka_broker.bootstrap_servers)
    relay = build_relay(api.sessions, DatabaseSettings(url=pg_url), kafka, FAST_OUTBOX)
    async with running(relay):
        await wait_until_published(api.sessions)
    async with api.sessions() as session:
        order_rows = (
            await session.exec(select(EventRow).where(col(EventRow.aggregate_type) == "order"))
        ).all()
    messages = (await read_topics(kafka, {kafka.order_topic: len(order_rows)}))[kafka.order_topic]
    on_topic = [
        header_map(m)["ce_subject"]
        for m in messages
        if header_map(m)["ce_type"] == ce_type("OrderRefunded", 1)
    ]
    assert on_topic == [order_id]


async def test_a_partial_refund_returns_only_the_returned_lines(api: Api) -> None:
    """Returning the mug of a beans-and-mug order refunds 12.00, puts one mug back, keeps
    the beans sold, and tells the customer; customers, unknown lines, orders not confirmed
    are refused."""
    items = [
        {"product_id": "sku-beans", "quantity": 1},
        {"product_id": "sku-mug", "quantity": 2},
    ]
    order_id = await confirmed_order(api, "cust-2", items)
    beans, mugs = await reserved(api, "sku-beans"), await reserved(api, "sku-mug")

    as_customer = await api.http.post(
        f"/orders/{order_id}/refund", json={"reason": "x"}, headers=api.auth("cust-2")
    )
    assert as_customer.status_code == 403
    too_many = await refund(api, order_id, lines=[{"product_id": "sku-mug", "quantity": 3}])
    assert too_many.status_code == 422, too_many.text
    declined = await api.place("cust-2", token="tok_chargeDeclined")
    declined_id = declined.json()["order_id"]
    await api.wait_for(declined_id, "cust-2", {"PAYMENT_FAILED"})
    assert (await refund(api, declined_id)).status_code == 409

    accepted = await refund(api, order_id, lines=[{"product_id": "sku-mug", "quantity": 1}])
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["amount"] == "12.00"
    await api.wait_for(order_id, "cust-2", {"REFUNDED"})

    charge = await api.gateway.find_charge(idempotency_key(order_id))
    assert charge is not None
    # 12.00 of 48.90 given back: the rest stays captured at the provider.
    assert charge.status.value == "CAPTURED"
    assert api.gateway.refund_count(charge.reference) == 1
    assert await reserved(api, "sku-mug") == mugs - 1
    assert await reserved(api, "sku-beans") == beans
    for _ in range(100):
        async with api.sessions() as session:
            notice = (
                await session.exec(
                    select(NotificationRow).where(
                        col(NotificationRow.order_id) == order_id,
                        col(NotificationRow.type) == "ORDER_REFUNDED",
                    )
                )
            ).first()
        if notice is not None:
            break
        await asyncio.sleep(0.1)
    assert notice is not None
    assert "12.00" in notice.content
