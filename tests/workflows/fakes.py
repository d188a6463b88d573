"""Same-named stand-ins for the saga's activities, for tests of the workflow's logic alone.

They record every call so a test can assert the order of steps and compensations.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker, WorkflowRunner

from messages import errors
from messages.activities import (
    CapturePaymentInput,
    ChargePaymentInput,
    NotificationResult,
    NotifyCustomerInput,
    OrderStatusResult,
    PaymentResult,
    RecordOrderStatusInput,
    RecordPaymentOutcomeInput,
    RefundPaymentInput,
    RefundResult,
    ReleaseInventoryInput,
    ReleaseResult,
    ReservationResult,
    ReserveInventoryInput,
)
from messages.queues import TaskQueues
from messages.restock import AlertLowStockInput, RestockInventoryInput, RestockResult
from messages.saga import OrderLine, OrderSagaInput, OrderSnapshot, PaymentInfo, SagaStatus
from messages.sdk_private import signal_name
from workers.sandbox import WORKFLOW_RUNNER
from workflows import WORKFLOWS
from workflows.order_saga import OrderSaga

# ``start_signal`` and raw-JSON signals (as the CLI sends them) take the name, not the handler.
CANCEL_SIGNAL = signal_name(OrderSaga.cancel)


def sample_order(token: str = "tok_visa", quantity: int = 1) -> OrderSagaInput:
    return OrderSagaInput(
        order=OrderSnapshot(
            order_id=str(uuid.uuid4()),
            customer_id="customer-1",
            customer_email="customer-1@example.com",
            currency="EUR",
            lines=[OrderLine(product_id="sku-1", quantity=quantity, unit_price=Decimal("9.50"))],
            payment=PaymentInfo(token=token),
            placed_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


@dataclass
class FakeActivities:
    calls: list[str] = field(default_factory=list)
    out_of_stock: bool = False
    decline: bool = False
    # Raised by charge_payment while set: an outage the saga must ride out or give up on.
    charge_error: Callable[[], Exception] | None = None
    # Raised by reserve_inventory / conclude_order (ORDER_CONFIRMED) while set.
    reserve_error: Callable[[], Exception] | None = None
    confirm_error: Callable[[], Exception] | None = None
    # charge_payment answers that the customer must act (3-D Secure) instead of charging.
    requires_action: bool = False
    # The statuses record_order_status was asked for, with the actor: ("NEEDS_ATTENTION", "system").
    recorded: list[tuple[str, str]] = field(default_factory=list)
    restocks: list[Any] = field(default_factory=list)
    # A step named here waits until the test sets the event: "while X is in flight…".
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    started: dict[str, asyncio.Event] = field(default_factory=dict)

    def hold(self, step: str) -> tuple[asyncio.Event, asyncio.Event]:
        """Makes ``step`` block; returns (started, release) events for the test to drive."""
        self.gates[step] = asyncio.Event()
        self.started[step] = asyncio.Event()
        return self.started[step], self.gates[step]

    async def _enter(self, step: str) -> None:
        self.calls.append(step)
        if step in self.started:
            self.started[step].set()
        if step in self.gates:
            await self.gates[step].wait()

    def all(self) -> list[Callable[..., Any]]:
        @activity.defn(name="reserve_inventory")
        async def reserve(arg: ReserveInventoryInput) -> ReservationResult:
            await self._enter("reserve")
            if self.reserve_error is not None:
                raise self.reserve_error()
            if self.out_of_stock:
                raise ApplicationError(
                    "sku-1: 1 requested, 0 available", type=errors.OUT_OF_STOCK, non_retryable=True
                )
            return ReservationResult(order_id=arg.order.order_id, restocks_needed=self.restocks)

        @activity.defn(name="release_inventory")
        async def release(arg: ReleaseInventoryInput) -> ReleaseResult:
            self.calls.append("release")
            return ReleaseResult(order_id=arg.order_id)

        @activity.defn(name="charge_payment")
        async def charge(arg: ChargePaymentInput) -> PaymentResult:
            await self._enter("charge" if arg.capture else "authorize")
            if self.charge_error is not None:
                raise self.charge_error()
            if self.decline:
                raise ApplicationError(
                    "card declined", type=errors.PAYMENT_DECLINED, non_retryable=True
                )
            if self.requires_action:
                return PaymentResult(
                    order_id=arg.order_id,
                    payment_id="pay-1",
                    status="PENDING",
                    gateway_reference="ch_1",
                    next_action="https://pay.example/authenticate/ch_1",
                )
            return PaymentResult(order_id=arg.order_id, payment_id="pay-1", status="CAPTURED")

        @activity.defn(name="record_payment_outcome")
        async def record_outcome(arg: RecordPaymentOutcomeInput) -> PaymentResult:
            self.calls.append(f"outcome:{'succeeded' if arg.succeeded else 'failed'}")
            status = "CAPTURED" if arg.succeeded else "FAILED"
            return PaymentResult(order_id=arg.order_id, payment_id="pay-1", status=status)

        @activity.defn(name="record_order_status")
        async def record_status(arg: RecordOrderStatusInput) -> OrderStatusResult:
            self.recorded.append((arg.status, arg.actor))
            return OrderStatusResult(order_id=arg.order.order_id, status=arg.status)

        @activity.defn(name="capture_payment")
        async def capture(arg: CapturePaymentInput) -> PaymentResult:
            self.calls.append("capture")
            return PaymentResult(order_id=arg.order_id, payment_id="pay-1", status="CAPTURED")

        @activity.defn(name="refund_payment")
        async def refund(arg: RefundPaymentInput) -> RefundResult:
            self.calls.append("refund")
            return RefundResult(order_id=arg.order_id, outcome="NOTHING_TO_REFUND")

        async def _conclude(arg: NotifyCustomerInput) -> NotificationResult:
            await self._enter(f"notify:{arg.notification_type}")
            if self.confirm_error is not None and arg.notification_type == "ORDER_CONFIRMED":
                raise self.confirm_error()
            return NotificationResult(
                order_id=arg.order.order_id, notification_id="n-1", status="SENT"
            )

        @activity.defn(name="conclude_order")
        async def conclude(arg: NotifyCustomerInput) -> NotificationResult:
            return await _conclude(arg)

        # The name sagas scheduled before conclude_order: committed histories replay it.
        @activity.defn(name="notify_customer")
        async def notify(arg: NotifyCustomerInput) -> NotificationResult:
            return await _conclude(arg)

        @activity.defn(name="alert_low_stock")
        async def alert(arg: AlertLowStockInput) -> NotificationResult:
            self.calls.append(f"alert:{arg.low_stock.product_id}")
            return NotificationResult(order_id="-", notification_id="n-2", status="SENT")

        @activity.defn(name="restock_inventory")
        async def restock(arg: RestockInventoryInput) -> RestockResult:
            self.calls.append(f"restock:{arg.product_id}:{arg.quantity}")
            return RestockResult(product_id=arg.product_id, quantity_on_hand=100, applied=True)

        return [
            reserve,
            release,
            charge,
            capture,
            refund,
            conclude,
            notify,
            alert,
            restock,
            record_outcome,
            record_status,
        ]


@asynccontextmanager
async def saga_workers(
    client: Client,
    fakes: FakeActivities,
    queues: TaskQueues,
    *,
    workflows: Sequence[type] = WORKFLOWS,
    runner: WorkflowRunner = WORKFLOW_RUNNER,
) -> AsyncIterator[None]:
    """The real workflows with ``fakes`` as every activity, on ``queues``.

    ``workflows`` and ``runner``: another copy of the workflow code, another runner.
    """
    activities = fakes.all()
    async with (
        Worker(client, task_queue=queues.orders, workflows=workflows, workflow_runner=runner),
        Worker(client, task_queue=queues.inventory, activities=activities),
        Worker(client, task_queue=queues.payments, activities=activities),
        Worker(client, task_queue=queues.notifications, activities=activities),
    ):
        yield


def unavailable() -> Exception:
    """What an outage looks like to the saga: an ordinary (retryable) activity error."""
    return ApplicationError("payment provider unavailable (simulated outage)", type="Unavailable")


async def wait_for_status(
    handle: WorkflowHandle[Any, Any], status: str, within: float = 30.0
) -> SagaStatus:
    """Poll the saga's ``status`` query until it reports ``status``; fail after ``within`` s."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        current: SagaStatus = await handle.query(OrderSaga.status)
        if current.status == status:
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"saga stayed {current.status}, never {status}: {current}")
        await asyncio.sleep(0.1)
