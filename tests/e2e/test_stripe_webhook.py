"""POST /webhooks/stripe on the real app, PostgreSQL and a Temporal dev server: events
signed like Stripe's (by the Stripe double, from its real intents) reach the order's
workflow as the saga's payment signals, once each; a bad signature changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import func
from sqlmodel import select
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from api import create_app
from config.settings import DatabaseSettings, PaymentSettings, Settings, TemporalSettings
from devstack.stripe_double import StripeDouble
from gateways.stripe_gateway import StripeGateway, build_stripe_client
from messages.queues import order_workflow_id
from messages.saga import PaymentOutcome
from models import Money
from persistence.database import create_engine, session_factory
from persistence.payment_intents import SqlIntentLog
from persistence.tables import InboxRow
from tests.e2e.harness import Api
from tests.e2e.payment_signals import PaymentSignalRecorder
from tests.fixtures.stripe import TEST_SECRET_KEY

WEBHOOK_SECRET = "whsec_test_order_saga"


@dataclass
class Webhooks:
    http: httpx.AsyncClient
    double: StripeDouble
    gateway: StripeGateway
    client: Client
    task_queue: str
    settings: Settings

    async def saga(self, order_id: str) -> WorkflowHandle[Any, Any]:
        return await self.client.start_workflow(
            PaymentSignalRecorder.run, id=order_workflow_id(order_id), task_queue=self.task_queue
        )

    async def intent_needing_3ds(self, order_id: str) -> str:
        charge = await self.gateway.charge(
            f"order-{order_id}",
            Money.of("25.00", "EUR"),
            "pm_card_threeDSecure2Required",
            capture=True,
        )
        return charge.reference

    async def customer_authenticates(self, intent_id: str, outcome: str) -> dict[str, Any]:
        """The customer passes (or fails) 3-D Secure; the event Stripe then emits."""
        async with httpx.AsyncClient(base_url=self.double.base_url) as client:
            answer = await client.post(
                f"/_test/payment_intents/{intent_id}/authenticate", data={"outcome": outcome}
            )
        assert answer.status_code == 200, answer.text
        return self.double.state.ledger.events[-1]

    async def deliver(self, event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> httpx.Response:
        self.double.state.webhook_secret = secret
        payload, signature = self.double.state.signed(event)
        return await self.http.post(
            "/webhooks/stripe",
            content=payload,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )

    async def inbox_rows(self) -> int:
        assert self.settings.database.url
        engine = create_engine(self.settings.database)
        try:
            async with session_factory(engine)() as session:
                counted = await session.exec(select(func.count()).select_from(InboxRow))
                return counted.one()
        finally:
            await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def webhooks(
    pg_url: str,
    temporal_settings: TemporalSettings,
    temporal_client: Client,
) -> AsyncIterator[Webhooks]:
    task_queue = f"webhook-{uuid.uuid4().hex[:12]}"
    with StripeDouble(webhook_secret=WEBHOOK_SECRET) as double:
        settings = Settings(
            environment="test",
            database=DatabaseSettings(url=pg_url, pool_size=5, max_overflow=5),
            temporal=temporal_settings,
            payments=PaymentSettings(
                provider="stripe",
                stripe_secret_key=SecretStr(TEST_SECRET_KEY),
                stripe_api_base=double.base_url,
                stripe_webhook_secret=SecretStr(WEBHOOK_SECRET),
            ),
        )
        app = create_app(settings)
        engine = create_engine(settings.database)
        gateway = StripeGateway(
            build_stripe_client(TEST_SECRET_KEY, api_base=double.base_url),
            SqlIntentLog(session_factory(engine)),
        )
        try:
            async with AsyncExitStack() as stack:
                await stack.enter_async_context(
                    Worker(
                        temporal_client, task_queue=task_queue, workflows=[PaymentSignalRecorder]
                    )
                )
                await stack.enter_async_context(app.router.lifespan_context(app))
                http = await stack.enter_async_context(
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
                )
                yield Webhooks(http, double, gateway, temporal_client, task_queue, settings)
        finally:
            await engine.dispose()


async def received(handle: WorkflowHandle[Any, Any]) -> list[tuple[str, PaymentOutcome]]:
    raw = await handle.query("received")
    return [(name, PaymentOutcome.model_validate(outcome)) for name, outcome in raw]


async def test_a_signed_success_reaches_the_saga_once(webhooks: Webhooks) -> None:
    order_id = str(uuid.uuid4())
    handle = await webhooks.saga(order_id)
    intent_id = await webhooks.intent_needing_3ds(order_id)
    event = await webhooks.customer_authenticates(intent_id, "succeed")
    assert event["type"] == "payment_intent.succeeded"

    first = await webhooks.deliver(event)
    second = await webhooks.deliver(event)

    assert (first.status_code, first.json()["outcome"]) == (200, "signalled")
    assert (second.status_code, second.json()["outcome"]) == (200, "duplicate")
    await asyncio.sleep(0.5)  # a second signal, had one been sent, would be in by now
    assert await received(handle) == [
        (
            "payment_succeeded",
            PaymentOutcome(provider_event_id=event["id"], reference=intent_id),
        )
    ]
    await handle.terminate()


async def test_a_failed_authentication_is_signalled_as_a_failure(webhooks: Webhooks) -> None:
    order_id = str(uuid.uuid4())
    handle = await webhooks.saga(order_id)
    intent_id = await webhooks.intent_needing_3ds(order_id)
    event = await webhooks.customer_authenticates(intent_id, "fail")

    answer = await webhooks.deliver(event)

    assert answer.status_code == 200
    [(name, outcome)] = await received(handle)
    assert name == "payment_failed"
    assert (outcome.provider_event_id, outcome.reference) == (event["id"], intent_id)
    assert outcome.decline_code == "authentication_required"
    assert outcome.reason
    await handle.terminate()


async def test_a_bad_signature_is_refused_and_changes_nothing(webhooks: Webhooks) -> None:
    order_id = str(uuid.uuid4())
    handle = await webhooks.saga(order_id)
    intent_id = await webhooks.intent_needing_3ds(order_id)
    event = await webhooks.customer_authenticates(intent_id, "succeed")
    rows_before = await webhooks.inbox_rows()

    forged = await webhooks.deliver(event, secret="whsec_someone_else")
    unsigned = await webhooks.http.post("/webhooks/stripe", json=event)

    for answer in (forged, unsigned):
        assert answer.status_code == 400
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["type"].endswith("invalid-signature")
    assert await received(handle) == []
    assert await webhooks.inbox_rows() == rows_before
    # The genuine delivery afterwards still goes through: nothing was claimed.
    assert (await webhooks.deliver(event)).json()["outcome"] == "signalled"
    await handle.terminate()


async def test_an_event_for_no_running_saga_is_acknowledged(webhooks: Webhooks) -> None:
    intent_id = await webhooks.intent_needing_3ds(str(uuid.uuid4()))
    event = await webhooks.customer_authenticates(intent_id, "succeed")

    answer = await webhooks.deliver(event)

    assert (answer.status_code, answer.json()["outcome"]) == (200, "ignored")


async def test_without_stripe_the_endpoint_is_absent(api: Api) -> None:
    """With the simulated provider no webhook secret is set: 404, as for any unknown path."""
    answer = await api.http.post("/webhooks/stripe", content=b"{}")

    assert answer.status_code == 404
    assert answer.json()["type"].endswith("not-configured")
