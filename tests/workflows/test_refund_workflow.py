"""The refund workflow's steps in order, and its history replaying on the current code.

A history of it is committed under ``histories/refund/`` (``RECORD_HISTORIES=1`` writes it
when missing), so a change that would break refunds already running is caught.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, Worker

from clients.codec import data_converter
from config.settings import CodecSettings
from messages.activities import NotificationResult, NotifyCustomerInput
from messages.queues import TaskQueues
from messages.refund import (
    RefundLine,
    RefundMoneyInput,
    RefundMoneyResult,
    RefundOrderInput,
    RefundOutcome,
    ReturnStockInput,
    ReturnStockResult,
    refund_workflow_id,
)
from tests.workflows.fakes import sample_order
from workflows import WORKFLOWS
from workflows.refund import RefundWorkflow

# The clients' converter: fresh histories are encrypted, committed ones pass through.
CONVERTER = data_converter(CodecSettings())
HISTORIES = Path(__file__).parent / "histories" / "refund"
HISTORY = HISTORIES / "refunded.json"
CANCEL_REQUESTED_HISTORY = HISTORIES / "refund_cancel_requested.json"


class FakeRefunds:
    def __init__(self) -> None:
        self.calls: list[str] = []
        # Set: the money step waits on it, so a test can act while the refund is under way.
        self.money_started = asyncio.Event()
        self.money_gate: asyncio.Event | None = None

    @activity.defn(name="refund_order_payment")
    async def refund(self, arg: RefundMoneyInput) -> RefundMoneyResult:
        self.money_started.set()
        if self.money_gate is not None:
            await self.money_gate.wait()
        self.calls.append(f"refund {arg.amount}")
        return RefundMoneyResult(
            order_id=arg.order_id, amount=arg.amount, currency=arg.currency, refund_reference="re_1"
        )

    @activity.defn(name="return_stock")
    async def return_stock(self, arg: ReturnStockInput) -> ReturnStockResult:
        self.calls.append("return " + ",".join(line.product_id for line in arg.lines))
        return ReturnStockResult(
            order_id=arg.order_id, returned={line.product_id: line.quantity for line in arg.lines}
        )

    @activity.defn(name="notify_customer")
    async def notify(self, arg: NotifyCustomerInput) -> NotificationResult:
        self.calls.append(f"notify {arg.notification_type} {arg.refund_amount}")
        return NotificationResult(order_id=arg.order.order_id, notification_id="n-1", status="SENT")


async def _run(
    client: Client, *, cancel_while_refunding: bool = False
) -> tuple[FakeRefunds, RefundOutcome, WorkflowHistory]:
    fakes = FakeRefunds()
    if cancel_while_refunding:
        fakes.money_gate = asyncio.Event()
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    order = sample_order(quantity=2).order
    refund = RefundOrderInput(
        order=order,
        lines=[RefundLine(product_id="sku-1", quantity=1)],
        amount=Decimal("9.50"),
        reason="returned",
        actor="alice",
        queues=queues,
    )
    activities: list[Callable[..., Any]] = [fakes.refund, fakes.return_stock, fakes.notify]
    async with (
        Worker(client, task_queue=queues.orders, workflows=WORKFLOWS),
        Worker(client, task_queue=queues.inventory, activities=activities),
        Worker(client, task_queue=queues.payments, activities=activities),
        Worker(client, task_queue=queues.notifications, activities=activities),
    ):
        handle = await client.start_workflow(
            RefundWorkflow.run,
            refund,
            id=refund_workflow_id(order.order_id),
            task_queue=queues.orders,
        )
        if fakes.money_gate is not None:
            await fakes.money_started.wait()
            # The Web UI's Request Cancellation while the money is on its way back.
            await handle.cancel()
            fakes.money_gate.set()
        outcome = await handle.result()
        return fakes, outcome, await handle.fetch_history()


async def test_money_then_stock_then_the_notice(temporal_client: Client) -> None:
    """The refund comes first, then the goods go back, then the customer is told the sum;
    the history replays on this code."""
    fakes, outcome, history = await _run(temporal_client)

    assert fakes.calls == ["refund 9.50", "return sku-1", "notify ORDER_REFUNDED 9.50"]
    assert outcome.refund_reference == "re_1"
    assert outcome.returned == {"sku-1": 1}
    if os.environ.get("RECORD_HISTORIES") and not HISTORY.exists():
        HISTORY.parent.mkdir(parents=True, exist_ok=True)
        HISTORY.write_text(history.to_json())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=CONVERTER)
    assert (await replayer.replay_workflow(history)).replay_failure is None


async def test_a_cancellation_request_does_not_cut_a_refund_short(temporal_client: Client) -> None:
    """Temporal's cancellation request while the money goes back: the refund still returns
    the goods and tells the customer, and the workflow completes (never CANCELED halfway)."""
    fakes, outcome, history = await _run(temporal_client, cancel_while_refunding=True)

    assert fakes.calls == ["refund 9.50", "return sku-1", "notify ORDER_REFUNDED 9.50"]
    assert outcome.returned == {"sku-1": 1}
    if os.environ.get("RECORD_HISTORIES") and not CANCEL_REQUESTED_HISTORY.exists():
        CANCEL_REQUESTED_HISTORY.write_text(history.to_json())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=CONVERTER)
    assert (await replayer.replay_workflow(history)).replay_failure is None


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_the_committed_refund_histories_replay(path: Path) -> None:
    """A refund started on the committed code would finish on this code."""
    text = await asyncio.to_thread(path.read_text)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", text)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
