"""Runs schedules against the real workflows and checks the invariants after each.

The server is the real Temporal dev server with per-workflow time skipping (the SDK's
time-skipping environment, version 2): each saga has its own clock, which jumps to the
next timer or retry the moment the saga waits on nothing else. That lets a hundred
schedules run at once. (The older Java test server keeps one clock for the whole server,
and concurrent waits on it fail with "Unbalanced lock and unlock calls".)

Two orders workers serve the sagas: one keeps them cached, the other keeps none, so
every workflow task of its sagas replays the whole history first -- a worker restart at
every step, which is where non-determinism shows.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from devstack.temporal import temporal_cli
from messages.queues import TaskQueues, order_workflow_id
from messages.refund import RefundLine, RefundOrderInput, refund_workflow_id
from messages.saga import (
    OrderLine,
    OrderSagaInput,
    OrderSnapshot,
    PaymentInfo,
    RetryRequest,
    SagaPolicy,
    SagaResult,
)
from messages.search_attributes import SEARCH_ATTRIBUTES
from models.invariants import OrderFacts, violations
from models.order_status import OrderStatus
from tests.explorer.schedules import Schedule
from tests.explorer.world import OrderWorld, World
from workflows.order_saga import OrderSaga
from workflows.refund import RefundWorkflow

__all__ = ["Outcome", "ScheduleFailedError", "explorer_environment", "run_schedules"]

UNIT_PRICE = Decimal("9.50")
# Budgets short enough that a run of scripted failures spends them; timers long enough that
# a saga that waits is seen waiting (they are skipped, so their length costs nothing).
POLICY = SagaPolicy(
    reserve_budget_seconds=5,
    charge_budget_seconds=10,
    attention_hold_seconds=6 * 3600,
    payment_action_timeout_seconds=1800,
)
# How often (real seconds) the runner looks whether a saga waits for a person.
POLL_SECONDS = 0.5
SETTLE_SECONDS = 20.0
# Operator retries the runner sends to a saga that waits for one, before it gives up.
MAX_RESCUES = 4


@dataclass(frozen=True)
class Outcome:
    schedule: Schedule
    facts: OrderFacts
    problems: tuple[str, ...]
    trace: tuple[str, ...]

    def describe(self) -> str:
        lines = [str(self.schedule), *(f"  VIOLATION: {p}" for p in self.problems)]
        lines += [f"  facts: {self.facts}", "  trace: " + " | ".join(self.trace)]
        return "\n".join(lines)


class ScheduleFailedError(AssertionError):
    """Schedules whose outcomes broke an invariant (a plain exception: Hypothesis sets its
    traceback while it shrinks)."""

    def __init__(self, outcomes: tuple[Outcome, ...]) -> None:
        super().__init__("\n\n".join(outcome.describe() for outcome in outcomes))
        self.outcomes = outcomes


@dataclass(frozen=True)
class _Pools:
    cached: TaskQueues
    replaying: TaskQueues


@asynccontextmanager
async def explorer_environment() -> AsyncIterator[tuple[WorkflowEnvironment, World, _Pools]]:
    """The dev server with time skipping, the fakes' world and both pools of workers."""
    # Scripted failures are the point here: the SDK's warning with a traceback per failed
    # attempt would bury the findings.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    args = ["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"]
    # A skip is a timer task; the timer queue reads tasks up to this far ahead, 1 s by
    # default, which made every skip (a retry backoff, a hold) cost a second. Measured
    # here: ten skips in 10.1 s by default, 0.8 s at 10 ms.
    args += ["--dynamic-config-value", 'history.timerProcessorMaxTimeShift="10ms"']
    args += ["--log-level", "error"]
    for name, kind in SEARCH_ATTRIBUTES.items():
        args += ["--search-attribute", f"{name}={kind}"]
    env = await WorkflowEnvironment.start_time_skipping_v2(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(temporal_cli()),
        dev_server_extra_args=args,
        ui=False,
    )
    world = World(env.client)
    run = uuid.uuid4().hex[:8]
    pools = _Pools(
        cached=TaskQueues.with_prefix(f"explore-{run}-c-"),
        replaying=TaskQueues.with_prefix(f"explore-{run}-r-"),
    )
    activities = world.activities()
    try:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(_workflow_workers(env, pools))
            for queues in (pools.cached, pools.replaying):
                for queue in (queues.inventory, queues.payments, queues.notifications):
                    await stack.enter_async_context(
                        Worker(
                            env.client,
                            task_queue=queue,
                            activities=activities,
                            max_concurrent_activities=200,
                        )
                    )
            yield env, world, pools
    finally:
        await env.shutdown()


@asynccontextmanager
async def _workflow_workers(env: WorkflowEnvironment, pools: _Pools) -> AsyncIterator[None]:
    """Both orders pools in a child process (tests/explorer/workflow_workers.py)."""
    address = env.client.service_client.config.target_host
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.explorer.workflow_workers",
        address,
        pools.cached.orders,
        pools.replaying.orders,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"the explorer's workflow workers did not start: {line!r}")
        yield
    finally:
        child.terminate()
        await child.wait()


def _snapshot(schedule: Schedule) -> OrderSnapshot:
    return OrderSnapshot(
        order_id=str(uuid.uuid4()),
        customer_id="customer-1",
        customer_email="customer-1@example.com",
        currency="EUR",
        lines=[OrderLine(product_id="sku-1", quantity=schedule.units, unit_price=UNIT_PRICE)],
        payment=PaymentInfo(token="tok_visa"),
        placed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


async def run_schedules(
    client: Client, world: World, pools: _Pools, schedules: Sequence[Schedule]
) -> list[Outcome]:
    """Every schedule at once; an outcome each, with the invariants it breaks."""
    return list(await asyncio.gather(*(_run(client, world, pools, s) for s in schedules)))


async def _run(client: Client, world: World, pools: _Pools, schedule: Schedule) -> Outcome:
    snapshot = _snapshot(schedule)
    order = world.add(snapshot, schedule)
    queues = pools.replaying if schedule.replay else pools.cached
    saga = OrderSagaInput(
        order=snapshot,
        payment_flow="authorize_capture" if schedule.authorize_capture else "direct",
        queues=queues,
        policy=POLICY,
    )
    handle = await client.start_workflow(
        OrderSaga.run, saga, id=order_workflow_id(snapshot.order_id), task_queue=queues.orders
    )
    problems: list[str] = []
    saga_status, ended, waiting_step = await _settle(handle, order, problems)
    if ended and saga_status is OrderStatus.CONFIRMED and schedule.refund is not None:
        saga_status = await _refund(client, order, queues, problems)
    facts = _facts(order, saga_status, ended=ended, waiting_step=waiting_step)
    problems += violations(facts)
    return Outcome(schedule, facts, tuple(problems), tuple(order.trace))


async def _settle(
    handle: WorkflowHandle[OrderSaga, SagaResult], order: OrderWorld, problems: list[str]
) -> tuple[OrderStatus, bool, str | None]:
    """Wait for the saga's end. A saga that waits for an operator without end (a failed
    compensation) is checked as it waits, then retried as an operator would."""
    rescues = 0
    ending = asyncio.ensure_future(_result(handle))
    for _ in range(int(SETTLE_SECONDS / POLL_SECONDS) * (MAX_RESCUES + 1)):
        try:
            result = await asyncio.wait_for(asyncio.shield(ending), POLL_SECONDS)
        except TimeoutError:
            status = await handle.query(OrderSaga.status)
            if not (status.awaiting_decision and status.needs_attention_until is None):
                continue
            waiting = _facts(order, status.status, ended=False, waiting_step=status.step)
            problems += [f"while waiting: {p}" for p in violations(waiting)]
            if rescues == MAX_RESCUES:
                ending.cancel()
                return status.status, False, status.step
            rescues += 1
            await _retry_as_operator(handle, OrderSaga.retry_update, order, status.step)
            continue
        if isinstance(result, str):
            problems.append(result)
            status = await handle.query(OrderSaga.status)
            return status.status, True, None
        return result.status, True, None
    ending.cancel()
    status = await handle.query(OrderSaga.status)
    problems.append(f"the saga neither ended nor waited for an operator: {status}")
    return status.status, False, status.step


async def _result(handle: WorkflowHandle[OrderSaga, SagaResult]) -> SagaResult | str:
    """The saga's result, or how its workflow closed otherwise (itself a violation)."""
    try:
        return await handle.result()
    except WorkflowFailureError as failure:
        described = await handle.describe()
        closed = described.status.name if described.status else "?"
        return f"the workflow closed {closed}: {failure.cause}"


async def _refund(
    client: Client, order: OrderWorld, queues: TaskQueues, problems: list[str]
) -> OrderStatus:
    plan = order.schedule.refund
    assert plan is not None
    units = min(plan.units, order.schedule.units)
    request = RefundOrderInput(
        order=order.snapshot,
        lines=[RefundLine(product_id="sku-1", quantity=units)],
        amount=UNIT_PRICE * units,
        reason="explored refund",
        actor="explorer",
        queues=queues,
    )
    for attempt in range(2 if plan.again else 1):
        try:
            handle = await client.start_workflow(
                RefundWorkflow.run,
                request,
                id=refund_workflow_id(order.order_id),
                task_queue=queues.orders,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            )
        except WorkflowAlreadyStartedError:
            order.trace.append(f"refund#{attempt}: already done")
            continue
        if plan.temporal_cancel:
            await handle.cancel()
        problem = await _finish_refund(handle, order)
        if problem is not None:
            problems.append(problem)
    return order.status or OrderStatus.CONFIRMED


async def _finish_refund(handle: WorkflowHandle[Any, Any], order: OrderWorld) -> str | None:
    """Wait for the refund's end, retrying (as an operator) a step that waits for one."""
    ending = asyncio.ensure_future(handle.result())
    # As long as a saga gets: each retry may meet another scripted failure.
    for _ in range(int(SETTLE_SECONDS / POLL_SECONDS) * (MAX_RESCUES + 1)):
        try:
            await asyncio.wait_for(asyncio.shield(ending), POLL_SECONDS)
        except TimeoutError:
            step = await handle.query(RefundWorkflow.step)
            if step.endswith(":needs_attention"):
                await _retry_as_operator(handle, RefundWorkflow.retry_update, order, step)
            continue
        except WorkflowFailureError as failure:
            return f"the refund workflow closed without finishing: {failure.cause}"
        return None
    ending.cancel()
    return "the refund workflow never finished"


async def _retry_as_operator(
    handle: WorkflowHandle[Any, Any], update: Any, order: OrderWorld, where: object
) -> None:
    """What an operator does for a workflow that waits for one without end: retry."""
    order.trace.append(f"runner: waits at {where}; retry")
    await handle.start_update(
        update, RetryRequest(operator="runner"), wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )


def _facts(
    order: OrderWorld, saga_status: OrderStatus, *, ended: bool, waiting_step: str | None
) -> OrderFacts:
    return OrderFacts(
        order_id=order.order_id,
        saga_status=saga_status,
        saga_ended=ended,
        read_model=order.status,
        total=order.snapshot.total,
        units=order.schedule.units,
        money=order.money(),
        stock_held=order.held,
        events=tuple(order.events),
        notices=tuple(order.notices.values()),
        refunded_after_sale=order.after_sale_refunded,
        units_returned=order.units_returned,
        waiting_step=waiting_step,
    )
