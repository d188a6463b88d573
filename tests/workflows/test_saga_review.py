"""IN_REVIEW: an order over a spend limit waits, reserved and uncharged, for an operator's
approve or reject (signals or the ``review`` update), a cancel, or the review timer.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from messages import errors
from messages.queues import TaskQueues, order_workflow_id
from messages.saga import (
    CancelRequest,
    ReviewDecision,
    ReviewPolicy,
    ReviewRequest,
    SagaPolicy,
    SagaResult,
)
from messages.search_attributes import ORDER_STATUS
from models.risk import CustomerActivity
from tests.workflows.fakes import FakeActivities, saga_workers, sample_order, wait_for_status
from workflows.order_saga import OrderSaga

# The sample order is 9.50: a spend already at the limit puts it over.
OVER_THE_LIMIT = CustomerActivity(recent_spend=Decimal("10000"))


def _policy(timeout_seconds: float = 3600) -> SagaPolicy:
    return SagaPolicy(review=ReviewPolicy(timeout_seconds=timeout_seconds))


@asynccontextmanager
async def reviewed_saga(
    client: Client, fakes: FakeActivities, policy: SagaPolicy
) -> AsyncIterator[WorkflowHandle[OrderSaga, SagaResult]]:
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga = sample_order().model_copy(update={"queues": queues, "policy": policy})
    async with saga_workers(client, fakes, queues):
        handle = await client.start_workflow(
            OrderSaga.run, saga, id=order_workflow_id(saga.order.order_id), task_queue=queues.orders
        )
        yield handle


async def test_an_order_within_the_limits_goes_straight_to_the_charge(
    temporal_client: Client,
) -> None:
    """The reservation reads the customer's activity; nothing trips, nobody is asked."""
    fakes = FakeActivities()
    async with reviewed_saga(temporal_client, fakes, _policy()) as handle:
        result = await handle.result()
    assert result.status == "CONFIRMED"
    assert fakes.spend_windows == [24.0]
    assert fakes.recorded == []


async def test_a_saga_without_review_limits_reads_no_customer_activity(
    temporal_client: Client,
) -> None:
    """An input without ``review`` (as every saga before spend limits) checks nothing."""
    fakes = FakeActivities(customer_activity=OVER_THE_LIMIT)
    async with reviewed_saga(temporal_client, fakes, SagaPolicy()) as handle:
        result = await handle.result()
    assert result.status == "CONFIRMED"
    assert fakes.spend_windows == [None]


async def test_an_approved_order_is_charged_once_and_confirmed(temporal_client: Client) -> None:
    """Over the spend limit: IN_REVIEW (searchable, with its reasons), no charge while it
    waits; the operator's approval records RESERVED and the saga charges once."""
    fakes = FakeActivities(customer_activity=OVER_THE_LIMIT)
    async with reviewed_saga(temporal_client, fakes, _policy()) as handle:
        waiting = await wait_for_status(handle, "IN_REVIEW")
        attribute = (await handle.describe()).typed_search_attributes.get(ORDER_STATUS)
        calls_while_waiting = list(fakes.calls)
        await handle.signal(OrderSaga.approve, ReviewDecision(operator="alice", note="known"))
        result = await handle.result()
    assert attribute == "IN_REVIEW"
    assert waiting.awaiting_review
    assert waiting.review_until is not None
    assert waiting.review_reasons[0].startswith("spend 10009.50 in the window")
    assert calls_while_waiting == ["reserve"]
    assert result.status == "CONFIRMED"
    assert fakes.calls == ["reserve", "charge", "notify:ORDER_CONFIRMED"]
    assert fakes.recorded == [("IN_REVIEW", "system"), ("RESERVED", "alice")]


async def test_a_rejected_order_is_released_uncharged_and_told_why(
    temporal_client: Client,
) -> None:
    fakes = FakeActivities(customer_activity=OVER_THE_LIMIT)
    async with reviewed_saga(temporal_client, fakes, _policy()) as handle:
        await wait_for_status(handle, "IN_REVIEW")
        await handle.signal(OrderSaga.reject, ReviewDecision(operator="bob", note="stolen card"))
        result = await handle.result()
    assert result.status == "REJECTED"
    assert result.reason == "rejected in review: stolen card"
    assert fakes.calls == ["reserve", "release", "notify:ORDER_REJECTED"]


async def test_a_review_nobody_decides_rejects_the_order(temporal_client: Client) -> None:
    """The review timer rejects by default: released, no charge, the customer told."""
    fakes = FakeActivities(customer_activity=OVER_THE_LIMIT)
    async with reviewed_saga(temporal_client, fakes, _policy(timeout_seconds=1)) as handle:
        result = await handle.result()
    assert result.status == "REJECTED"
    assert result.reason == "rejected in review: the review timed out"
    assert fakes.calls == ["reserve", "release", "notify:ORDER_REJECTED"]


async def test_a_cancel_in_review_compensates_in_full(temporal_client: Client) -> None:
    fakes = FakeActivities(customer_activity=OVER_THE_LIMIT)
    async with reviewed_saga(temporal_client, fakes, _policy()) as handle:
        await wait_for_status(handle, "IN_REVIEW")
        await handle.signal(OrderSaga.cancel, CancelRequest(reason="customer called"))
        result = await handle.result()
    assert result.status == "CANCELLED"
    assert fakes.calls == ["reserve", "release", "notify:ORDER_CANCELLED"]


async def test_a_temporal_cancellation_request_in_review_cancels_the_order(
    temporal_client: Client,
) -> None:
    fakes = FakeActivities(customer_activity=OVER_THE_LIMIT)
    async with reviewed_saga(temporal_client, fakes, _policy()) as handle:
        await wait_for_status(handle, "IN_REVIEW")
        await handle.cancel()
        result = await handle.result()
    assert result.status == "CANCELLED"
    assert "charge" not in fakes.calls
    assert "release" in fakes.calls


async def test_the_review_update_answers_and_is_refused_once_decided(
    temporal_client: Client,
) -> None:
    """The update approves an order IN_REVIEW; a second decision is refused by the
    validator (the API's 409), as is one for an order that is not in review."""
    fakes = FakeActivities(customer_activity=OVER_THE_LIMIT)
    started, release = fakes.hold("charge")
    async with reviewed_saga(temporal_client, fakes, _policy()) as handle:
        await wait_for_status(handle, "IN_REVIEW")
        outcome = await handle.execute_update(
            OrderSaga.review, ReviewRequest(approve=True, operator="carol")
        )
        await started.wait()
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(OrderSaga.review, ReviewRequest(approve=False))
        release.set()
        result = await handle.result()
    assert outcome.accepted
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == errors.REVIEW_REFUSED
    assert result.status == "CONFIRMED"
