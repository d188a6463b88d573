"""The saga's orchestration alone, on the time-skipping test server with same-named fakes.

Real activities against PostgreSQL are covered in tests/integration; here each test
proves one decision of the workflow: order of steps, compensations, timeouts.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from messages.queues import TaskQueues, order_workflow_id
from messages.restock import LowStock, RestockInput
from messages.saga import OrderSagaInput, SagaResult
from tests.workflows.fakes import FakeActivities, saga_workers, sample_order
from workflows.order_saga import OrderSaga
from workflows.restock import RestockWorkflow


async def run_saga(
    env: WorkflowEnvironment, fakes: FakeActivities, saga: OrderSagaInput
) -> SagaResult:
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga = saga.model_copy(update={"queues": queues})
    async with saga_workers(env.client, fakes, queues):
        return await env.client.execute_workflow(
            OrderSaga.run,
            saga,
            id=order_workflow_id(saga.order.order_id),
            task_queue=queues.orders,
        )


async def test_happy_path_reserves_charges_then_confirms_with_one_notice(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Three steps in order, no compensation, and the order ends CONFIRMED."""
    fakes = FakeActivities()
    result = await run_saga(time_skipping_env, fakes, sample_order())
    assert result.status == "CONFIRMED"
    assert fakes.calls == ["reserve", "charge", "notify:ORDER_CONFIRMED"]


async def test_out_of_stock_rejects_without_charging(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A failed reservation never reaches payment; the release compensation is a no-op."""
    fakes = FakeActivities(out_of_stock=True)
    result = await run_saga(time_skipping_env, fakes, sample_order())
    assert result.status == "REJECTED"
    assert "0 available" in (result.reason or "")
    assert fakes.calls == ["reserve", "release", "notify:ORDER_REJECTED"]


async def test_declined_card_releases_the_reservation_and_reports_payment_failed(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """No money was taken, so no refund step runs (it would read as a refund): only release."""
    fakes = FakeActivities(decline=True)
    result = await run_saga(time_skipping_env, fakes, sample_order())
    assert result.status == "PAYMENT_FAILED"
    assert fakes.calls == ["reserve", "charge", "release", "notify:PAYMENT_FAILED"]


async def test_authorize_capture_flow_captures_only_at_confirmation(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """With the second payment flow the money is authorised first and captured last."""
    fakes = FakeActivities()
    saga = sample_order().model_copy(update={"payment_flow": "authorize_capture"})
    result = await run_saga(time_skipping_env, fakes, saga)
    assert result.status == "CONFIRMED"
    assert fakes.calls == ["reserve", "authorize", "capture", "notify:ORDER_CONFIRMED"]


async def test_low_stock_hands_over_to_a_restock_workflow_that_outlives_the_order(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The saga starts restock-<product> and confirms without waiting for it."""
    fakes = FakeActivities(restocks=[_restock(lead_time_seconds=3600)])
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga = sample_order().model_copy(update={"queues": queues})
    client = time_skipping_env.client
    async with saga_workers(client, fakes, queues):
        result = await client.execute_workflow(
            OrderSaga.run, saga, id=order_workflow_id(saga.order.order_id), task_queue=queues.orders
        )
        restock = await client.get_workflow_handle("restock-sku-1").describe()
    assert result.status == "CONFIRMED"
    assert restock.workflow_type == "RestockWorkflow"
    assert restock.status == WorkflowExecutionStatus.RUNNING


async def test_restock_alerts_admins_then_restocks_after_the_supplier_lead_time(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The lead time is a durable timer: three days pass (skipped) before stock arrives."""
    fakes = FakeActivities()
    restock = _restock(lead_time_seconds=3 * 24 * 3600)
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    restock = restock.model_copy(update={"queues": queues})
    client = time_skipping_env.client
    async with saga_workers(client, fakes, queues):
        before = await time_skipping_env.get_current_time()
        result = await client.execute_workflow(
            RestockWorkflow.run, restock, id=f"restock-{uuid.uuid4()}", task_queue=queues.orders
        )
        after = await time_skipping_env.get_current_time()
    assert result.applied is True
    assert fakes.calls == ["alert:sku-1", "restock:sku-1:20"]
    assert after - before >= timedelta(days=3)


def _restock(lead_time_seconds: float) -> RestockInput:
    return RestockInput(
        low_stock=LowStock(product_id="sku-1", available=1, reorder_point=5, reorder_quantity=20),
        lead_time_seconds=lead_time_seconds,
        admin_email="admins@example.com",
    )
