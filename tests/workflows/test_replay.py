"""Histories replay against the current workflow code without nondeterminism.

Two sources: histories recorded now from each saga path, and histories committed under
``histories/`` from earlier versions — the ones that catch a change which would break
sagas already running in production. ``RECORD_HISTORIES=1`` refreshes the committed set.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.worker import Replayer

from clients.codec import data_converter
from config.settings import CodecSettings
from messages.queues import TaskQueues, order_workflow_id
from messages.saga import (
    CancelRequest,
    OrderSagaInput,
    PaymentOutcome,
    RetryRequest,
    SagaPolicy,
)
from tests.workflows.fakes import (
    CANCEL_SIGNAL,
    FakeActivities,
    saga_workers,
    sample_order,
    unavailable,
    wait_for_status,
)
from tests.workflows.test_saga_footprint import footprint
from workers.sandbox import WORKFLOW_RUNNER, runner_for
from workflows import WORKFLOWS
from workflows.order_saga import OrderSaga
from workflows.patches import LEAN_SAGA_PATCH, LEAN_SEARCH_ATTRIBUTES_PATCH, WAITING_STATES_PATCH

# The clients' converter: fresh histories are encrypted, committed ones pass through.
CONVERTER = data_converter(CodecSettings())
HISTORIES = Path(__file__).parent / "histories"

# How a test drives a saga while it waits (an operator's retry, the provider's webhook).
Driver = Callable[[WorkflowHandle[Any, Any], FakeActivities], Awaitable[None]]


async def _retry_after_outage(handle: WorkflowHandle[Any, Any], fakes: FakeActivities) -> None:
    await wait_for_status(handle, "NEEDS_ATTENTION")
    fakes.charge_error = None
    await handle.signal(OrderSaga.retry, RetryRequest(operator="alice"))


async def _customer_pays(handle: WorkflowHandle[Any, Any], fakes: FakeActivities) -> None:
    del fakes
    await wait_for_status(handle, "PAYMENT_PENDING")
    outcome = PaymentOutcome(provider_event_id="evt_1", reference="ch_1")
    await handle.signal(OrderSaga.payment_succeeded, outcome)
    await handle.signal(OrderSaga.payment_succeeded, outcome)


async def _cancel_parked(handle: WorkflowHandle[Any, Any], fakes: FakeActivities) -> None:
    del fakes
    await wait_for_status(handle, "NEEDS_ATTENTION")
    await handle.signal(OrderSaga.cancel, CancelRequest(reason="customer called"))


SHORT = SagaPolicy(charge_budget_seconds=1)


def _holding_the_charge() -> FakeActivities:
    fakes = FakeActivities()
    fakes.hold("charge")
    return fakes


async def _temporal_cancel_while_charging(
    handle: WorkflowHandle[Any, Any], fakes: FakeActivities
) -> None:
    await fakes.started["charge"].wait()
    await handle.cancel()
    fakes.gates["charge"].set()


SCENARIOS: dict[str, tuple[FakeActivities, OrderSagaInput, bool, Driver | None]] = {
    "confirmed": (FakeActivities(), sample_order(), False, None),
    "rejected": (FakeActivities(out_of_stock=True), sample_order(), False, None),
    "payment_failed": (FakeActivities(decline=True), sample_order(), False, None),
    "authorize_capture": (
        FakeActivities(),
        sample_order().model_copy(update={"payment_flow": "authorize_capture"}),
        False,
        None,
    ),
    "cancelled": (FakeActivities(), sample_order(), True, None),
    "needs_attention_retried": (
        FakeActivities(charge_error=unavailable),
        sample_order().model_copy(update={"policy": SHORT}),
        False,
        _retry_after_outage,
    ),
    "payment_failed_no_refund": (FakeActivities(decline=True), sample_order(), False, None),
    "payment_pending_confirmed": (
        FakeActivities(requires_action=True),
        sample_order(),
        False,
        _customer_pays,
    ),
    "lean_confirmed": (FakeActivities(), sample_order(), False, None),
    "lean_payment_pending_confirmed": (
        FakeActivities(requires_action=True),
        sample_order(),
        False,
        _customer_pays,
    ),
    "lean_needs_attention_retried": (
        FakeActivities(charge_error=unavailable),
        sample_order().model_copy(update={"policy": SHORT}),
        False,
        _retry_after_outage,
    ),
    "lean_temporal_cancel_while_charging": (
        _holding_the_charge(),
        sample_order(),
        False,
        _temporal_cancel_while_charging,
    ),
    "lean_needs_attention_cancelled": (
        FakeActivities(charge_error=unavailable),
        sample_order().model_copy(update={"policy": SHORT}),
        False,
        _cancel_parked,
    ),
}
# Recorded before the waiting states: sagas that started on that code must still finish.
LEGACY = {"confirmed", "rejected", "payment_failed", "authorize_capture", "cancelled"}
# Recorded with the lean saga (which implies the waiting states): fewer visibility writes,
# and the last step named conclude_order; the others schedule notify_customer.
LEAN = {name for name in SCENARIOS if name.startswith("lean_")}
# Recorded by the builds from d608859 to 13815ef (at f627d80): lean, under the patch id
# lean-search-attributes, and still scheduling notify_customer. Today's code cannot record
# them again, so they are only replayed.
LEAN_SEARCH_ATTRIBUTES = {
    "lean_search_attributes_confirmed",
    "lean_search_attributes_needs_attention_cancelled",
    "lean_search_attributes_needs_attention_retried",
    "lean_search_attributes_payment_pending_confirmed",
}


def _replayer() -> Replayer:
    # The orders worker's own runner: what replays here is what the worker would run.
    return Replayer(workflows=WORKFLOWS, data_converter=CONVERTER, workflow_runner=WORKFLOW_RUNNER)


async def _record(client: Client, name: str) -> WorkflowHistory:
    fakes, saga, cancel, drive = SCENARIOS[name]
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga = saga.model_copy(update={"queues": queues})
    async with saga_workers(client, fakes, queues):
        handle = await client.start_workflow(
            OrderSaga.run,
            saga,
            id=order_workflow_id(saga.order.order_id),
            task_queue=queues.orders,
            start_signal=CANCEL_SIGNAL if cancel else None,
            start_signal_args=[CancelRequest()] if cancel else [],
        )
        if drive is not None:
            await drive(handle, fakes)
        await handle.result()
        history: WorkflowHistory = await handle.fetch_history()
        return history


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_fresh_history_replays(temporal_client: Client, name: str) -> None:
    """Each saga path, recorded now, replays deterministically."""
    history = await _record(temporal_client, name)
    path = HISTORIES / f"{name}.json"
    # Committed histories are kept: they stand for sagas started on the code of their time.
    if os.environ.get("RECORD_HISTORIES") and not path.exists():
        HISTORIES.mkdir(exist_ok=True)
        path.write_text(history.to_json())
    result = await _replayer().replay_workflow(history)
    assert result.replay_failure is None


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_committed_history_replays(path: Path) -> None:
    """A saga that started on the committed code would finish on this code."""
    text = await asyncio.to_thread(path.read_text)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", text)
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


async def test_committed_histories_replay_on_the_sdks_own_runner() -> None:
    """The runner the worker falls back to (another SDK version, or the lean runner turned
    off) runs the same saga: every committed history replays on it."""
    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=CONVERTER, workflow_runner=runner_for(lean=False)
    )
    # The refund's histories too, in their folder.
    for path in sorted(HISTORIES.rglob("*.json")):
        text = await asyncio.to_thread(path.read_text)
        history = WorkflowHistory.from_json(f"replay-{path.stem}", text)
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (path.stem, result.replay_failure)


def test_committed_histories_cover_every_saga_path() -> None:
    """The committed set is not empty: one history per path above, and the histories of
    earlier generations that only replay."""
    assert {p.stem for p in HISTORIES.glob("*.json")} == set(SCENARIOS) | LEAN_SEARCH_ATTRIBUTES


def _patches(name: str) -> set[str]:
    history = WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
    found = set()
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            for payload in event.marker_recorded_event_attributes.details["patch-data"].payloads:
                found.add(json.loads(payload.data)["id"])
    return found


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_only_new_histories_carry_the_waiting_states_patch(name: str) -> None:
    """Legacy histories replay the old path (no marker): the gate is what keeps them valid."""
    assert (WAITING_STATES_PATCH in _patches(name)) == (name not in LEGACY | LEAN)
    assert (LEAN_SAGA_PATCH in _patches(name)) == (name in LEAN)


def test_a_lean_happy_path_upserts_only_its_terminal_status() -> None:
    """RESERVED and PAID are no longer written to visibility; the recorded history shows it."""
    history = WorkflowHistory.from_json("lean", (HISTORIES / "lean_confirmed.json").read_text())
    assert footprint(history).status_upserts == 1


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_only_new_histories_schedule_conclude_order(name: str) -> None:
    """Older histories replay notify_customer (no marker); newer ones name the step."""
    text = (HISTORIES / f"{name}.json").read_text()
    concluded = name in LEAN
    assert ('"conclude_order"' in text) == concluded
    assert ('"notify_customer"' in text) == (not concluded)


@pytest.mark.parametrize("name", sorted(LEAN_SEARCH_ATTRIBUTES))
def test_lean_search_attributes_histories_are_lean_and_notify_customer(name: str) -> None:
    """That generation's histories carry its own id only and schedule notify_customer: the
    behaviour the saga keeps for that id when it replays them."""
    text = (HISTORIES / f"{name}.json").read_text()
    assert _patches(name) == {LEAN_SEARCH_ATTRIBUTES_PATCH}
    assert '"notify_customer"' in text
    assert '"conclude_order"' not in text


def test_a_lean_search_attributes_happy_path_upserts_only_its_terminal_status() -> None:
    """The older lean id already wrote only the terminal status to visibility."""
    name = "lean_search_attributes_confirmed"
    history = WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
    assert footprint(history).status_upserts == 1


def test_declined_payment_history_has_no_refund() -> None:
    """A decline recorded now skips the refund step (the legacy one still ran it)."""
    assert "refund_payment" not in (HISTORIES / "payment_failed_no_refund.json").read_text()
    assert "refund_payment" in (HISTORIES / "payment_failed.json").read_text()


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
    replayer = Replayer(workflows=[ChargeFirstSaga], data_converter=CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
