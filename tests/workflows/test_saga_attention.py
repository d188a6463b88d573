"""NEEDS_ATTENTION: a step out of budget, or failing unexpectedly, parks the order for an
operator, who retries or cancels; unanswered, the hold runs out and the saga compensates.

Hold timers run on the time-skipping server (a day passes in no time); operator decisions
on the real dev server, where the saga is driven while it waits.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from messages import errors
from messages.queues import TaskQueues, order_workflow_id
from messages.saga import (
    CancelOutcome,
    CancelRequest,
    OrderSagaInput,
    RetryRequest,
    SagaPolicy,
    SagaResult,
)
from messages.search_attributes import NEEDS_ATTENTION_SINCE, ORDER_STATUS
from tests.workflows.fakes import (
    FakeActivities,
    saga_workers,
    sample_order,
    unavailable,
    wait_for_status,
)
from workflows.order_saga import OrderSaga

# Budgets short enough for a test to watch the saga give up in real time.
SHORT = SagaPolicy(reserve_budget_seconds=1, charge_budget_seconds=1)


def _saga(queues: TaskQueues, policy: SagaPolicy = SHORT) -> OrderSagaInput:
    return sample_order().model_copy(update={"queues": queues, "policy": policy})


async def _run(env: WorkflowEnvironment, fakes: FakeActivities) -> SagaResult:
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga = _saga(queues, SagaPolicy())
    async with saga_workers(env.client, fakes, queues):
        return await env.client.execute_workflow(
            OrderSaga.run, saga, id=order_workflow_id(saga.order.order_id), task_queue=queues.orders
        )


async def test_unanswered_charge_outage_fails_payment_after_the_hold(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Ten minutes of outage, a day parked (skipped): refund, release, tell, PAYMENT_FAILED."""
    fakes = FakeActivities(charge_error=unavailable)
    before = await time_skipping_env.get_current_time()
    result = await _run(time_skipping_env, fakes)
    waited = await time_skipping_env.get_current_time() - before
    assert result.status == "PAYMENT_FAILED"
    assert (result.reason or "").startswith("no operator decision within the hold")
    assert "Unavailable" in (result.reason or "")
    assert fakes.calls.count("charge") > 5, "the outage was retried with backoff first"
    assert fakes.calls[-3:] == ["refund", "release", "notify:PAYMENT_FAILED"]
    assert fakes.recorded == [("NEEDS_ATTENTION", "system")]
    assert waited.total_seconds() >= 24 * 3600 + 600


async def test_unanswered_reservation_trouble_rejects_after_the_hold(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The reserve step parked and never answered ends as a failed reservation: REJECTED."""
    fakes = FakeActivities(reserve_error=lambda: ApplicationError("database is down"))
    result = await _run(time_skipping_env, fakes)
    assert result.status == "REJECTED"
    assert "database is down" in (result.reason or "")
    assert "charge" not in fakes.calls
    assert fakes.calls[-2:] == ["release", "notify:ORDER_REJECTED"]


@asynccontextmanager
async def parked_saga(
    client: Client, fakes: FakeActivities
) -> AsyncIterator[WorkflowHandle[OrderSaga, SagaResult]]:
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga = _saga(queues)
    async with saga_workers(client, fakes, queues):
        handle = await client.start_workflow(
            OrderSaga.run, saga, id=order_workflow_id(saga.order.order_id), task_queue=queues.orders
        )
        yield handle


async def test_charge_outage_past_the_budget_parks_and_a_retry_confirms(
    temporal_client: Client,
) -> None:
    """Parked at charge with the stock held; after the outage a retry charges once and confirms."""
    fakes = FakeActivities(charge_error=unavailable)
    async with parked_saga(temporal_client, fakes) as handle:
        parked = await wait_for_status(handle, "NEEDS_ATTENTION")
        described = await handle.describe()
        attributes = described.typed_search_attributes
        assert attributes.get(ORDER_STATUS) == "NEEDS_ATTENTION"
        assert attributes.get(NEEDS_ATTENTION_SINCE) is not None
        assert parked.step == "charge"
        assert parked.resume_status == "RESERVED"
        assert "Unavailable" in (parked.last_error or "")
        assert "release" not in fakes.calls, "the reservation is kept while parked"

        fakes.charge_error = None
        await handle.signal(OrderSaga.retry, RetryRequest(operator="alice", note="provider back"))
        result = await handle.result()
        after = await handle.describe()
    assert result.status == "CONFIRMED"
    assert fakes.calls[-2:] == ["charge", "notify:ORDER_CONFIRMED"]
    assert "refund" not in fakes.calls
    assert fakes.recorded == [("NEEDS_ATTENTION", "system"), ("RESERVED", "alice")]
    assert after.typed_search_attributes.get(NEEDS_ATTENTION_SINCE) is None


async def test_retry_as_an_update_answers_and_is_refused_when_not_parked(
    temporal_client: Client,
) -> None:
    """The update `retry` accepts a parked order (no input needed) and refuses a running one."""
    fakes = FakeActivities(charge_error=unavailable)
    started, release = fakes.hold("reserve")
    async with parked_saga(temporal_client, fakes) as handle:
        await started.wait()
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(OrderSaga.retry_update, None)
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == errors.RETRY_REFUSED
        release.set()
        await wait_for_status(handle, "NEEDS_ATTENTION")
        fakes.charge_error = None
        outcome = await handle.execute_update(OrderSaga.retry_update, None)
        result = await handle.result()
    assert outcome.accepted
    assert outcome.step == "charge"
    assert result.status == "CONFIRMED"
    assert fakes.recorded[-1] == ("RESERVED", "operator")


async def test_cancel_of_a_parked_order_compensates(temporal_client: Client) -> None:
    """An operator's cancel while parked: refund (a charge may exist), release, CANCELLED."""
    fakes = FakeActivities(charge_error=unavailable)
    async with parked_saga(temporal_client, fakes) as handle:
        await wait_for_status(handle, "NEEDS_ATTENTION")
        await handle.signal(OrderSaga.cancel, CancelRequest(reason="customer asked by phone"))
        result = await handle.result()
    assert result.status == "CANCELLED"
    assert result.reason == "customer asked by phone"
    assert fakes.calls[-3:] == ["refund", "release", "notify:ORDER_CANCELLED"]


async def test_a_parked_order_ended_by_cancel_is_no_longer_listed_as_waiting(
    temporal_client: Client,
) -> None:
    """The terminal status clears NeedsAttentionSince: a filter on it finds only parked orders."""
    fakes = FakeActivities(charge_error=unavailable)
    async with parked_saga(temporal_client, fakes) as handle:
        await wait_for_status(handle, "NEEDS_ATTENTION")
        await handle.signal(OrderSaga.cancel, CancelRequest(reason="customer asked by phone"))
        await handle.result()
        attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(ORDER_STATUS) == "CANCELLED"
    assert attributes.get(NEEDS_ATTENTION_SINCE) is None


async def test_a_parked_order_ended_by_the_hold_over_clears_needs_attention_since(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Unanswered, the order compensates and ends PAYMENT_FAILED without NeedsAttentionSince."""
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga = _saga(queues, SagaPolicy())
    client = time_skipping_env.client
    async with saga_workers(client, FakeActivities(charge_error=unavailable), queues):
        handle = await client.start_workflow(
            OrderSaga.run, saga, id=order_workflow_id(saga.order.order_id), task_queue=queues.orders
        )
        result = await handle.result()
        history = await handle.fetch_history()
    # Read from the history: the time-skipping server's describe cannot decode an unset
    # datetime attribute. The last upsert carries the final status and the unset.
    upserts = [
        event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    ]
    assert result.status == "PAYMENT_FAILED"
    assert set(upserts[-1]) == {ORDER_STATUS.name, NEEDS_ATTENTION_SINCE.name}
    assert upserts[-1][NEEDS_ATTENTION_SINCE.name].data in (b"", b"null", b"[]")


async def test_an_unplanned_error_at_confirm_parks_instead_of_failing(
    temporal_client: Client,
) -> None:
    """A status the domain refuses at confirmation: parked with a readable cause, then
    retried to CONFIRMED once the cause is fixed; the workflow never fails."""
    fakes = FakeActivities(
        confirm_error=lambda: ApplicationError(
            "order cannot go from RESERVED to CONFIRMED",
            type=errors.ILLEGAL_TRANSITION,
            non_retryable=True,
        )
    )
    async with parked_saga(temporal_client, fakes) as handle:
        parked = await wait_for_status(handle, "NEEDS_ATTENTION")
        running = (await handle.describe()).status
        fakes.confirm_error = None
        await handle.signal(OrderSaga.retry)
        result = await handle.result()
    assert running == WorkflowExecutionStatus.RUNNING
    assert parked.step == "confirm"
    assert parked.resume_status == "PAID"
    assert parked.last_error == ("IllegalTransition: order cannot go from RESERVED to CONFIRMED")
    assert result.status == "CONFIRMED"
    assert fakes.calls.count("notify:ORDER_CONFIRMED") == 2
    assert "refund" not in fakes.calls


async def test_a_cancel_is_accepted_when_parked_at_confirmation(temporal_client: Client) -> None:
    """Confirmation refuses cancels, except once parked: the operator may compensate then
    (refund + release), through the same update the API uses."""
    fakes = FakeActivities(
        confirm_error=lambda: ApplicationError(
            "mail template broken", type=errors.UNKNOWN_NOTIFICATION_TYPE, non_retryable=True
        )
    )
    async with parked_saga(temporal_client, fakes) as handle:
        await wait_for_status(handle, "NEEDS_ATTENTION")
        outcome = await handle.execute_update(
            "request_cancel", CancelRequest(reason="cannot confirm"), result_type=CancelOutcome
        )
        result = await handle.result()
    assert outcome.accepted
    assert result.status == "CANCELLED"
    assert fakes.calls[-3:] == ["refund", "release", "notify:ORDER_CANCELLED"]
