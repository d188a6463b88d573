"""PAYMENT_PENDING: the charge waits for the customer's action; the provider's webhook
(sent here as the signal it becomes) decides, a timeout or a cancel abandons it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from messages.queues import TaskQueues, order_workflow_id
from messages.saga import CancelRequest, PaymentOutcome, SagaPolicy, SagaResult
from messages.search_attributes import ORDER_STATUS
from tests.workflows.fakes import FakeActivities, saga_workers, sample_order, wait_for_status
from workflows.order_saga import OrderSaga


@asynccontextmanager
async def pending_saga(
    client: Client, fakes: FakeActivities, policy: SagaPolicy | None = None
) -> AsyncIterator[WorkflowHandle[OrderSaga, SagaResult]]:
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga = sample_order(token="tok_threeDSecureRequired").model_copy(
        update={"queues": queues, "policy": policy or SagaPolicy()}
    )
    async with saga_workers(client, fakes, queues):
        handle = await client.start_workflow(
            OrderSaga.run, saga, id=order_workflow_id(saga.order.order_id), task_queue=queues.orders
        )
        yield handle


def report(
    event_id: str = "evt_1", reason: str | None = None, reference: str = "ch_1"
) -> PaymentOutcome:
    return PaymentOutcome(provider_event_id=event_id, reference=reference, reason=reason)


async def test_payment_succeeded_confirms_the_waiting_order(temporal_client: Client) -> None:
    """PAYMENT_PENDING shows the next action; the success report records it and confirms."""
    fakes = FakeActivities(requires_action=True)
    async with pending_saga(temporal_client, fakes) as handle:
        pending = await wait_for_status(handle, "PAYMENT_PENDING")
        attribute = (await handle.describe()).typed_search_attributes.get(ORDER_STATUS)
        await handle.signal(OrderSaga.payment_succeeded, report())
        result = await handle.result()
    assert attribute == "PAYMENT_PENDING"
    assert pending.next_action == "https://pay.example/authenticate/ch_1"
    assert result.status == "CONFIRMED"
    assert fakes.calls == ["reserve", "charge", "outcome:succeeded", "notify:ORDER_CONFIRMED"]


async def test_payment_failed_releases_stock_without_a_refund(temporal_client: Client) -> None:
    """The provider says the payment failed: no money was taken, so release and tell only."""
    fakes = FakeActivities(requires_action=True)
    async with pending_saga(temporal_client, fakes) as handle:
        await wait_for_status(handle, "PAYMENT_PENDING")
        await handle.signal(OrderSaga.payment_failed, report(reason="authentication failed"))
        result = await handle.result()
    assert result.status == "PAYMENT_FAILED"
    assert result.reason == "authentication failed"
    assert fakes.calls == [
        "reserve",
        "charge",
        "outcome:failed",
        "release",
        "notify:PAYMENT_FAILED",
    ]


async def test_a_report_delivered_twice_changes_nothing(temporal_client: Client) -> None:
    """The same provider event again (even as the other signal) is ignored: one outcome."""
    fakes = FakeActivities(requires_action=True)
    started, release = fakes.hold("notify:ORDER_CONFIRMED")
    async with pending_saga(temporal_client, fakes) as handle:
        await wait_for_status(handle, "PAYMENT_PENDING")
        await handle.signal(OrderSaga.payment_succeeded, report("evt_same"))
        await started.wait()
        await handle.signal(OrderSaga.payment_succeeded, report("evt_same"))
        await handle.signal(OrderSaga.payment_failed, report("evt_same"))
        status = await wait_for_status(handle, "PAID")
        release.set()
        result = await handle.result()
    assert result.status == "CONFIRMED"
    assert status.payment_events == ["evt_same"]
    assert fakes.calls.count("outcome:succeeded") == 1
    assert "outcome:failed" not in fakes.calls


async def test_reports_on_another_charge_are_not_this_payments_outcome(
    temporal_client: Client,
) -> None:
    """Stripe also reports intents the saga does not wait for (an ordinary payment's own
    ``payment_intent.succeeded``, another intent naming the order): they change nothing;
    the report on the waiting charge decides."""
    fakes = FakeActivities(requires_action=True)
    async with pending_saga(temporal_client, fakes) as handle:
        await wait_for_status(handle, "PAYMENT_PENDING")
        await handle.signal(OrderSaga.payment_succeeded, report("evt_other", reference="pi_other"))
        await handle.signal(OrderSaga.payment_failed, report("evt_other_2", reference="pi_other"))
        await asyncio.sleep(0.5)  # had the saga taken either, it would have moved on
        still = await wait_for_status(handle, "PAYMENT_PENDING")
        await handle.signal(OrderSaga.payment_succeeded, report("evt_mine"))
        result = await handle.result()
    assert still.payment_events == ["evt_other", "evt_other_2"]
    assert result.status == "CONFIRMED"
    assert fakes.calls == ["reserve", "charge", "outcome:succeeded", "notify:ORDER_CONFIRMED"]


async def test_a_report_that_beats_the_charges_reply_still_counts(
    temporal_client: Client,
) -> None:
    """The customer authenticated and the webhook arrived before the charge step's reply
    reached the saga: the report is kept and decides as soon as the saga waits."""
    fakes = FakeActivities(requires_action=True)
    started, release = fakes.hold("charge")
    async with pending_saga(temporal_client, fakes) as handle:
        await started.wait()
        await handle.signal(OrderSaga.payment_succeeded, report())
        release.set()
        result = await handle.result()
    assert result.status == "CONFIRMED"
    assert fakes.calls == ["reserve", "charge", "outcome:succeeded", "notify:ORDER_CONFIRMED"]


async def test_a_cancel_while_pending_voids_and_releases(temporal_client: Client) -> None:
    """Cancelled while the customer has not acted: the waiting charge is voided (the refund
    step), the stock released, the order CANCELLED."""
    fakes = FakeActivities(requires_action=True)
    async with pending_saga(temporal_client, fakes) as handle:
        await wait_for_status(handle, "PAYMENT_PENDING")
        await handle.signal(OrderSaga.cancel, CancelRequest(reason="changed my mind"))
        result = await handle.result()
    assert result.status == "CANCELLED"
    assert fakes.calls == ["reserve", "charge", "refund", "release", "notify:ORDER_CANCELLED"]


async def test_no_report_within_the_timeout_voids_and_fails_the_payment(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Thirty minutes (skipped) without the customer: void, release, PAYMENT_FAILED."""
    fakes = FakeActivities(requires_action=True)
    client = time_skipping_env.client
    before = await time_skipping_env.get_current_time()
    async with pending_saga(client, fakes) as handle:
        result = await handle.result()
    waited = await time_skipping_env.get_current_time() - before
    assert result.status == "PAYMENT_FAILED"
    assert result.reason == "the payment was not completed in time"
    assert fakes.calls == ["reserve", "charge", "refund", "release", "notify:PAYMENT_FAILED"]
    assert waited.total_seconds() >= 30 * 60


async def test_authorised_after_the_customer_acts_then_captured_at_confirmation(
    temporal_client: Client,
) -> None:
    """The authorize/capture flow: the customer's action only authorises; capture comes last."""
    fakes = FakeActivities(requires_action=True)
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga = sample_order(token="tok_threeDSecureRequired").model_copy(
        update={"queues": queues, "payment_flow": "authorize_capture"}
    )
    async with saga_workers(temporal_client, fakes, queues):
        handle = await temporal_client.start_workflow(
            OrderSaga.run, saga, id=order_workflow_id(saga.order.order_id), task_queue=queues.orders
        )
        await wait_for_status(handle, "PAYMENT_PENDING")
        await handle.signal(OrderSaga.payment_succeeded, report())
        result = await handle.result()
        status = await handle.query(OrderSaga.status)
    assert result.status == "CONFIRMED"
    assert fakes.calls == [
        "reserve",
        "authorize",
        "outcome:succeeded",
        "capture",
        "notify:ORDER_CONFIRMED",
    ]
    assert status.completed_steps[:4] == ["reserved", "payment_pending", "authorized", "captured"]
