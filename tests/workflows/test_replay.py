"""Histories replay against the current workflow code without nondeterminism.

Two sources: histories recorded now from each saga path, and histories committed under
``histories/`` from earlier versions — the ones that catch a change which would break
sagas already running in production. ``RECORD_HISTORIES=1`` refreshes the committed set.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from messages.queues import TaskQueues, order_workflow_id
from messages.saga import CancelRequest, OrderSagaInput
from tests.workflows.fakes import FakeActivities, saga_workers, sample_order
from workflows import WORKFLOWS
from workflows.order_saga import OrderSaga

HISTORIES = Path(__file__).parent / "histories"

SCENARIOS: dict[str, tuple[FakeActivities, OrderSagaInput, bool]] = {
    "confirmed": (FakeActivities(), sample_order(), False),
    "rejected": (FakeActivities(out_of_stock=True), sample_order(), False),
    "payment_failed": (FakeActivities(decline=True), sample_order(), False),
    "authorize_capture": (
        FakeActivities(),
        sample_order().model_copy(update={"payment_flow": "authorize_capture"}),
        False,
    ),
    "cancelled": (FakeActivities(), sample_order(), True),
}


def _replayer() -> Replayer:
    return Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)


async def _record(client: Client, name: str) -> WorkflowHistory:
    fakes, saga, cancel = SCENARIOS[name]
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga = saga.model_copy(update={"queues": queues})
    async with saga_workers(client, fakes, queues):
        handle = await client.start_workflow(
            OrderSaga.run,
            saga,
            id=order_workflow_id(saga.order.order_id),
            task_queue=queues.orders,
            start_signal="cancel" if cancel else None,
            start_signal_args=[CancelRequest()] if cancel else [],
        )
        await handle.result()
        history: WorkflowHistory = await handle.fetch_history()
        return history


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_fresh_history_replays(temporal_client: Client, name: str) -> None:
    """Each saga path, recorded now, replays deterministically."""
    history = await _record(temporal_client, name)
    if os.environ.get("RECORD_HISTORIES"):
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(history.to_json())
    result = await _replayer().replay_workflow(history)
    assert result.replay_failure is None


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_committed_history_replays(path: Path) -> None:
    """A saga that started on the committed code would finish on this code."""
    text = await asyncio.to_thread(path.read_text)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", text)
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def test_committed_histories_cover_every_saga_path() -> None:
    """The committed set is not empty and has one history per path above."""
    assert {p.stem for p in HISTORIES.glob("*.json")} == set(SCENARIOS)


@workflow.defn(name="OrderSaga", sandboxed=False)
class ChargeFirstSaga:
    """A change that would break running sagas: it charges before reserving."""

    @workflow.run
    async def run(self, saga: OrderSagaInput) -> None:
        await workflow.execute_activity(
            "charge_payment", saga.order.order_id, start_to_close_timeout=timedelta(seconds=5)
        )


async def test_replay_catches_a_reordered_saga() -> None:
    """The check has teeth: reordering the steps is reported as nondeterminism."""
    history = WorkflowHistory.from_json(
        "replay-confirmed", (HISTORIES / "confirmed.json").read_text()
    )
    replayer = Replayer(workflows=[ChargeFirstSaga], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
