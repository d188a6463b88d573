"""Cancellation against the step in flight, on the real dev server with same-named fakes.

Each test holds one step open, cancels while it runs, then lets it finish: the outcome
must be the same every time (deterministic), whatever the timing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from messages.queues import TaskQueues, order_workflow_id
from messages.saga import CancelRequest, OrderSagaInput, SagaResult
from messages.search_attributes import ORDER_STATUS
from tests.workflows.fakes import CANCEL_SIGNAL, FakeActivities, saga_workers, sample_order
from workflows.order_saga import OrderSaga


@asynccontextmanager
async def running_saga(
    client: Client, fakes: FakeActivities, cancel_at_start: CancelRequest | None = None
) -> AsyncIterator[WorkflowHandle[OrderSaga, SagaResult]]:
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga: OrderSagaInput = sample_order().model_copy(update={"queues": queues})
    async with saga_workers(client, fakes, queues):
        handle = await client.start_workflow(
            OrderSaga.run,
            saga,
            id=order_workflow_id(saga.order.order_id),
            task_queue=queues.orders,
            start_signal=CANCEL_SIGNAL if cancel_at_start else None,
            start_signal_args=[cancel_at_start] if cancel_at_start else [],
        )
        yield handle


async def test_cancel_before_reserve_touches_nothing_but_the_notice(
    temporal_client: Client,
) -> None:
    """Signal-with-start cancel: no reservation, no charge; the order ends CANCELLED."""
    fakes = FakeActivities()
    async with running_saga(
        temporal_client,
        fakes,
        cancel_at_start=CancelRequest(reason="changed my mind"),
    ) as handle:
        result = await handle.result()
    assert result.status == "CANCELLED"
    assert result.reason == "changed my mind"
    assert fakes.calls == ["notify:ORDER_CANCELLED"]


async def test_cancel_while_reserving_releases_after_the_reservation_lands(
    temporal_client: Client,
) -> None:
    """The reservation in flight finishes, then the cancel wins: release, never charge."""
    fakes = FakeActivities()
    started, release = fakes.hold("reserve")
    async with running_saga(temporal_client, fakes) as handle:
        await started.wait()
        await handle.signal(OrderSaga.cancel, CancelRequest(reason="customer"))
        release.set()
        result = await handle.result()
    assert result.status == "CANCELLED"
    assert fakes.calls == ["reserve", "release", "notify:ORDER_CANCELLED"]


async def test_cancel_while_charging_refunds_and_releases(temporal_client: Client) -> None:
    """A charge in flight completes; the cancel then refunds it and releases the stock."""
    fakes = FakeActivities()
    started, release = fakes.hold("charge")
    async with running_saga(temporal_client, fakes) as handle:
        await started.wait()
        outcome = await handle.execute_update(
            OrderSaga.request_cancel, CancelRequest(reason="too slow")
        )
        assert outcome.accepted
        release.set()
        result = await handle.result()
    assert result.status == "CANCELLED"
    assert fakes.calls == ["reserve", "charge", "refund", "release", "notify:ORDER_CANCELLED"]


async def test_cancel_during_confirmation_is_refused_and_recorded(
    temporal_client: Client,
) -> None:
    """Once the confirmation notice is under way the order will be CONFIRMED: refuse."""
    fakes = FakeActivities()
    started, release = fakes.hold("notify:ORDER_CONFIRMED")
    async with running_saga(temporal_client, fakes) as handle:
        await started.wait()
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(OrderSaga.request_cancel, CancelRequest(reason="late"))
        await handle.signal(OrderSaga.cancel, CancelRequest(reason="late via CLI"))
        status = await handle.query(OrderSaga.status)
        assert status.cancel_refused == "the order is already being confirmed"
        release.set()
        result = await handle.result()
    assert result.status == "CONFIRMED"
    assert "refund" not in fakes.calls
    assert "release" not in fakes.calls


async def test_cancel_after_confirmation_is_refused(temporal_client: Client) -> None:
    """A finished saga cannot be cancelled: the update fails, nothing is compensated."""
    fakes = FakeActivities()
    async with running_saga(temporal_client, fakes) as handle:
        result = await handle.result()
        assert result.status == "CONFIRMED"
        with pytest.raises(Exception, match=r"(?i)completed|closed|not found"):
            await handle.execute_update(OrderSaga.request_cancel, CancelRequest())
    assert fakes.calls == ["reserve", "charge", "notify:ORDER_CONFIRMED"]


async def test_status_query_reports_steps_and_search_attribute_follows(
    temporal_client: Client,
) -> None:
    """The status query lists completed steps; OrderStatus is visible to list filters."""
    fakes = FakeActivities()
    async with running_saga(temporal_client, fakes) as handle:
        await handle.result()
        status = await handle.query(OrderSaga.status)
        description = await handle.describe()
    assert status.status == "CONFIRMED"
    assert status.completed_steps == ["reserved", "charged", "notified:ORDER_CONFIRMED"]
    assert description.typed_search_attributes.get(ORDER_STATUS) == "CONFIRMED"
