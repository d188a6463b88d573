"""Payments that need the customer, end to end with ORDERS_PAYMENTS__PROVIDER=stripe: the
API, the production workers, the Stripe double's 3-D Secure test card, and the double's
signed events delivered to ``POST /webhooks/stripe`` as Stripe would deliver them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import select
from temporalio.client import Client

from config.settings import SagaSettings, TemporalSettings
from devstack.stripe_double import StripeDouble
from messages.queues import order_workflow_id
from messages.saga import SagaResult
from persistence.event_store import load_timeline
from persistence.tables import InboxRow
from tests.e2e.harness import TERMINAL, Api, running_api
from tests.e2e.test_stripe_orders import double, stripe_api, stripe_settings
from tests.fixtures.stripe import TEST_SECRET_KEY
from tests.integration.saga_data import stock_of

__all__ = ["double", "stripe_api"]

THREE_D_SECURE = "pm_card_threeDSecure2Required"


def intent_of(double: StripeDouble, order_id: str) -> dict[str, Any]:
    [intent] = [
        i for i in double.state.ledger.intents.values() if i["metadata"]["order_id"] == order_id
    ]
    return intent


def events_of(double: StripeDouble, intent_id: str) -> list[dict[str, Any]]:
    return [e for e in double.state.ledger.events if e["data"]["object"]["id"] == intent_id]


async def deliver(
    api: Api, double: StripeDouble, event: dict[str, Any], *, secret: str | None = None
) -> httpx.Response:
    """One delivery of ``event``, signed with the endpoint's secret (or ``secret``)."""
    configured = api.settings.payments.stripe_webhook_secret.get_secret_value()
    double.state.webhook_secret = secret or configured
    payload, signature = double.state.signed(event)
    return await api.http.post(
        "/webhooks/stripe",
        content=payload,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )


async def authenticate(double: StripeDouble, intent_id: str, outcome: str = "succeed") -> None:
    """The customer passes 3-D Secure on the next action's page."""
    async with httpx.AsyncClient(base_url=double.base_url) as client:
        answer = await client.post(
            f"/_test/payment_intents/{intent_id}/authenticate", data={"outcome": outcome}
        )
    assert answer.status_code == 200, answer.text


def stray_success(intent: dict[str, Any]) -> dict[str, Any]:
    """A genuine, signed ``payment_intent.succeeded`` naming the order but another intent
    (one the order does not wait for, e.g. made by another integration of the shop)."""
    other = {**intent, "id": "pi_not_this_order", "status": "succeeded"}
    return {
        "id": "evt_stray_" + intent["id"],
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": intent["created"],
        "livemode": False,
        "data": {"object": other},
    }


async def inbox_rows(api: Api) -> int:
    async with api.sessions() as session:
        return (await session.exec(select(func.count()).select_from(InboxRow))).one()


async def timeline(api: Api, order_id: str) -> list[str]:
    async with api.sessions() as session:
        return [row.event_type for row in await load_timeline(session, order_id)]


async def saga_ended(client: Client, order_id: str) -> SagaResult:
    """The saga's own end: the read model shows the last status a moment before it."""
    handle = client.get_workflow_handle(order_workflow_id(order_id), result_type=SagaResult)
    result: SagaResult = await handle.result()
    return result


async def pending(api: Api) -> dict[str, Any]:
    """An order paid with the 3-D Secure test card, once the read model shows it waiting."""
    order_id = (await api.place("alice", token=THREE_D_SECURE)).json()["order_id"]
    for _ in range(100):
        order = await api.wait_for(order_id, "alice", {"PAYMENT_PENDING"})
        if order["source"] == "read_model":
            return order
        await asyncio.sleep(0.1)
    raise AssertionError(f"the read model never recorded {order_id} as PAYMENT_PENDING")


async def test_a_3ds_payment_waits_then_the_signed_webhook_confirms_it_once(
    stripe_api: Api, double: StripeDouble
) -> None:
    """PAYMENT_PENDING with the next action; a badly signed delivery is refused and changes
    nothing; the customer authenticates, Stripe's events arrive (each twice) and the order
    is CONFIRMED with one charge."""
    order = await pending(stripe_api)
    order_id = order["order_id"]
    intent = intent_of(double, order_id)
    stray_answer = await deliver(stripe_api, double, stray_success(intent))
    await asyncio.sleep(0.5)  # had the saga taken it, the order would have moved on
    unmoved = await stripe_api.wait_for(order_id, "alice", {"PAYMENT_PENDING"})
    await authenticate(double, intent["id"])
    events = events_of(double, intent["id"])
    succeeded = next(e for e in events if e["type"] == "payment_intent.succeeded")
    rows_before = await inbox_rows(stripe_api)

    forged = await deliver(stripe_api, double, succeeded, secret="whsec_someone_else")
    await asyncio.sleep(0.5)  # a signal, had one been sent, would have moved the order
    still = await stripe_api.wait_for(order_id, "alice", {"PAYMENT_PENDING"})
    rows_after_forged = await inbox_rows(stripe_api)
    answers = [(await deliver(stripe_api, double, e)).json()["outcome"] for e in events]
    again = [(await deliver(stripe_api, double, e)).json()["outcome"] for e in events]
    confirmed = await stripe_api.wait_for(order_id, "alice", TERMINAL)
    history = await timeline(stripe_api, order_id)

    assert order["next_action"] == f"stripe-js:{intent['client_secret']}"
    assert stray_answer.json()["outcome"] == "signalled"
    assert (unmoved["payment"]["status"], unmoved["source"]) == ("PENDING", "read_model")
    assert order["payment"]["status"] == "PENDING"
    assert forged.status_code == 400
    assert still["status"] == "PAYMENT_PENDING"
    assert rows_after_forged == rows_before
    assert [e["type"] for e in events] == [
        "payment_intent.created",
        "payment_intent.requires_action",
        "payment_intent.succeeded",
    ]
    assert answers == ["ignored", "ignored", "signalled"]
    assert again == ["ignored", "ignored", "duplicate"]
    assert confirmed["status"] == "CONFIRMED"
    assert confirmed["payment"]["status"] == "CAPTURED"
    assert confirmed["next_action"] is None
    assert double.state.ledger.charges == 1
    assert intent_of(double, order_id)["status"] == "succeeded"
    assert history.count("PaymentProcessed") == 1
    assert "OrderNeedsAttention" not in history


async def test_a_3ds_failure_reported_by_webhook_fails_the_payment_and_releases_stock(
    stripe_api: Api, double: StripeDouble
) -> None:
    """The customer fails 3-D Secure: ``payment_intent.payment_failed`` → PAYMENT_FAILED,
    stock released, nothing charged. Stripe leaves such an intent open for another card
    (``requires_payment_method``), so it is cancelled: paying it afterwards is refused,
    and Stripe's ``payment_intent.canceled`` that follows changes nothing."""
    order_id = (await pending(stripe_api))["order_id"]
    intent = intent_of(double, order_id)
    await authenticate(double, intent["id"], "fail")
    failed = next(
        e for e in events_of(double, intent["id"]) if e["type"] == "payment_intent.payment_failed"
    )
    assert intent_of(double, order_id)["status"] == "requires_payment_method"

    answer = await deliver(stripe_api, double, failed)
    order = await stripe_api.wait_for(order_id, "alice", TERMINAL)
    stock = await stock_of(stripe_api.sessions, "sku-beans")
    closed = dict(intent_of(double, order_id))  # the double updates its own in place
    async with httpx.AsyncClient(
        base_url=double.base_url, headers={"Authorization": f"Bearer {TEST_SECRET_KEY}"}
    ) as client:
        paid_late = await client.post(
            f"/v1/payment_intents/{intent['id']}/confirm", data={"payment_method": "pm_card_visa"}
        )
    canceled = [
        e for e in events_of(double, intent["id"]) if e["type"] == "payment_intent.canceled"
    ]
    late = [(await deliver(stripe_api, double, e)).json()["outcome"] for e in canceled]
    history = await timeline(stripe_api, order_id)

    assert answer.json()["outcome"] == "signalled"
    assert closed["status"] == "canceled"
    assert paid_late.status_code == 400, paid_late.text
    assert paid_late.json()["error"]["code"] == "payment_intent_unexpected_state"
    assert intent_of(double, order_id)["status"] == "canceled"
    assert late == ["ignored"]
    assert history.count("PaymentFailed") == 1
    assert "PaymentVoided" not in history
    assert order["status"] == "PAYMENT_FAILED"
    assert order["payment"]["status"] == "FAILED"
    assert order["failure_reason"] == "The customer failed to authenticate this payment."
    assert (stock.quantity, stock.reserved) == (100, 0)
    assert double.state.ledger.charges == 0


async def test_no_webhook_within_the_timeout_cancels_the_intent_and_releases_stock(
    pg_url: str,
    temporal_settings: TemporalSettings,
    temporal_client: Client,
    double: StripeDouble,
) -> None:
    """The customer never authenticates: after the (shortened) timeout the intent is
    cancelled at Stripe, the stock released and the order PAYMENT_FAILED; Stripe's
    ``payment_intent.canceled`` event that follows changes nothing."""
    saga = SagaSettings(payment_action_timeout_seconds=2)
    async with running_api(
        pg_url, temporal_settings, temporal_client, saga=saga, payments=stripe_settings(double)
    ) as api:
        order_id = (await pending(api))["order_id"]
        order = await api.wait_for(order_id, "alice", TERMINAL)
        stock = await stock_of(api.sessions, "sku-beans")
        intent = intent_of(double, order_id)
        answers = [
            (await deliver(api, double, e)).status_code for e in events_of(double, intent["id"])
        ]
    assert order["status"] == "PAYMENT_FAILED"
    assert order["failure_reason"] == "the payment was not completed in time"
    assert order["payment"]["status"] == "VOIDED"
    assert (intent["status"], intent["cancellation_reason"]) == (
        "canceled",
        "requested_by_customer",
    )
    assert (stock.quantity, stock.reserved) == (100, 0)
    assert double.state.ledger.charges == 0
    assert set(answers) == {200}


async def test_webhooks_of_an_ordinary_payment_change_nothing(
    stripe_api: Api, double: StripeDouble, temporal_client: Client
) -> None:
    """A card without 3-D Secure: Stripe still sends ``payment_intent.succeeded``. Delivered
    while the saga runs, the saga is not waiting for it; delivered after the saga ended, it
    is acknowledged (200 ``ignored``), so Stripe stops sending it. Both orders CONFIRMED,
    each charged once, never parked."""
    # A slow answer from Stripe: its webhook arrives while the charge step still waits.
    double.state.latency_seconds = 1.0
    running_id = (await stripe_api.place("alice", token="pm_card_visa")).json()["order_id"]
    for _ in range(500):  # as soon as Stripe has the event, as a prompt webhook would
        if any(e["type"] == "payment_intent.succeeded" for e in double.state.ledger.events):
            break
        await asyncio.sleep(0.01)
    early = [
        (await deliver(stripe_api, double, e)).json()["outcome"]
        for e in events_of(double, intent_of(double, running_id)["id"])
    ]
    running = await stripe_api.wait_for(running_id, "alice", TERMINAL)
    double.state.latency_seconds = 0.0
    result = await saga_ended(temporal_client, running_id)
    handle = temporal_client.get_workflow_handle(order_workflow_id(running_id))
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        async for e in handle.fetch_history_events()
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    finished_id = (await stripe_api.place("alice", token="pm_card_visa")).json()["order_id"]
    finished = await stripe_api.wait_for(finished_id, "alice", TERMINAL)
    await saga_ended(temporal_client, finished_id)
    late = [
        (await deliver(stripe_api, double, e))
        for e in events_of(double, intent_of(double, finished_id)["id"])
    ]
    again = await deliver(
        stripe_api, double, events_of(double, intent_of(double, finished_id)["id"])[-1]
    )

    assert early == ["ignored", "signalled"]
    assert signals == ["payment_succeeded"]  # it reached the saga while it ran
    assert [(r.status_code, r.json()["outcome"]) for r in late] == [
        (200, "ignored"),
        (200, "ignored"),
    ]
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    assert running["status"] == result.status == finished["status"] == "CONFIRMED"
    assert running["payment"]["status"] == finished["payment"]["status"] == "CAPTURED"
    assert double.state.ledger.charges == 2
    for order_id in (running_id, finished_id):
        assert "OrderNeedsAttention" not in await timeline(stripe_api, order_id)


async def test_a_cancel_while_pending_cancels_the_intent_and_releases_stock(
    stripe_api: Api, double: StripeDouble
) -> None:
    """Cancelled before the customer authenticates: the intent is cancelled at Stripe (the
    customer can no longer complete it), the stock released, the order CANCELLED."""
    order_id = (await pending(stripe_api))["order_id"]

    cancel = await stripe_api.http.post(
        f"/orders/{order_id}/cancel",
        json={"reason": "changed my mind"},
        headers=stripe_api.auth("alice"),
    )
    order = await stripe_api.wait_for(order_id, "alice", TERMINAL)
    stock = await stock_of(stripe_api.sessions, "sku-beans")
    intent = intent_of(double, order_id)
    async with httpx.AsyncClient(base_url=double.base_url) as client:
        late = await client.post(
            f"/_test/payment_intents/{intent['id']}/authenticate", data={"outcome": "succeed"}
        )

    assert cancel.status_code == 202, cancel.text
    assert order["status"] == "CANCELLED"
    assert order["payment"]["status"] == "VOIDED"
    assert intent["status"] == "canceled"
    assert late.status_code == 400  # too late for the customer: nothing can be taken
    assert (stock.quantity, stock.reserved) == (100, 0)
    assert double.state.ledger.charges == 0


async def test_authorised_by_the_customer_then_captured_at_confirmation(
    pg_url: str,
    temporal_settings: TemporalSettings,
    temporal_client: Client,
    double: StripeDouble,
) -> None:
    """ORDERS_PAYMENTS__FLOW=authorize_capture: 3-D Secure authorises
    (``payment_intent.amount_capturable_updated`` is the success the saga waits for), the
    confirmation captures, and the ``payment_intent.succeeded`` that capture makes is
    harmless. One charge, captured once."""
    payments = stripe_settings(double).model_copy(update={"flow": "authorize_capture"})
    async with running_api(pg_url, temporal_settings, temporal_client, payments=payments) as api:
        order_id = (await pending(api))["order_id"]
        intent_id = intent_of(double, order_id)["id"]
        await authenticate(double, intent_id)
        answers = [
            (await deliver(api, double, e)).json()["outcome"] for e in events_of(double, intent_id)
        ]
        order = await api.wait_for(order_id, "alice", TERMINAL)
        await saga_ended(temporal_client, order_id)
        after = [
            (await deliver(api, double, e)).json()["outcome"]
            for e in events_of(double, intent_id)[len(answers) :]
        ]
        history = await timeline(api, order_id)
    intent = intent_of(double, order_id)
    assert answers == ["ignored", "ignored", "signalled"]
    assert [e["type"] for e in events_of(double, intent_id)][len(answers) :] == [
        "payment_intent.succeeded"
    ]
    assert after == ["ignored"]  # the saga had ended
    assert order["status"] == "CONFIRMED"
    assert order["payment"]["status"] == "CAPTURED"
    assert (intent["status"], intent["amount_received"]) == ("succeeded", 4980)
    assert double.state.ledger.charges == 1
    assert "OrderNeedsAttention" not in history
