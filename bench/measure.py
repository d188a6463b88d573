"""The measurements: each phase drives load and returns plain figures, no I/O beyond that."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx
from temporalio.client import Client

from bench.bare_workflow import BareQueues, BareSaga
from bench.load import OrderLoad, Placement
from bench.progress import Progress
from messages.queues import order_workflow_id


@dataclass
class Phase:
    name: str
    completed: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    post_latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    # Seconds from the phase's start at which each saga ended: throughput over time.
    finished: list[float] = field(default_factory=list)
    workflow_ids: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def throughput(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    @property
    def steady_throughput(self) -> float:
        """Sagas/s from the first saga's end to the last's: without the pipeline's filling,
        which weighs on a short phase more than on a long one."""
        if len(self.finished) < 2 or self.finished[-1] <= self.finished[0]:
            return self.throughput
        return (len(self.finished) - 1) / (self.finished[-1] - self.finished[0])

    def record(self, workflow_id: str, latency: float) -> None:
        self.latencies.append(latency)
        self.finished.append(time.perf_counter() - self.started)
        self.workflow_ids.append(workflow_id)
        self.completed += 1


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def _bounded(
    phase: Phase, count: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> None:
    """Runs ``one(i)`` for every i with at most ``concurrency`` in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with gate:
            await one(i)

    phase.started = time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in range(count)))
    phase.seconds = time.perf_counter() - phase.started


async def bare_sagas(
    client: Client,
    queues: BareQueues,
    count: int,
    concurrency: int,
    name: str = "limit",
    *,
    progress: Progress | None = None,
) -> Phase:
    phase = Phase(name=name)

    async def one(_: int) -> None:
        workflow_id = f"bare-{uuid.uuid4()}"
        t0 = time.perf_counter()
        await client.execute_workflow(
            BareSaga.run, args=[workflow_id, queues], id=workflow_id, task_queue=queues.orders
        )
        phase.record(workflow_id, time.perf_counter() - t0)

    if progress is None:
        await _bounded(phase, count, concurrency, one)
    else:
        async with progress.counting(name, lambda: phase.completed, count):
            await _bounded(phase, count, concurrency, one)
    return phase


@dataclass
class OrderClient:
    """Places orders over HTTP as a shop front would (bench/load.py), then waits for each
    saga's end through Temporal (a long poll, not a billable query)."""

    http: httpx.AsyncClient
    temporal: Client
    token: str
    product_id: str
    placed: list[str] = field(default_factory=list)

    @property
    def load(self) -> OrderLoad:
        return OrderLoad(self.http, self.token, self.product_id)

    async def outcome(self, order_id: str) -> str:
        result = await self.temporal.get_workflow_handle(order_workflow_id(order_id)).result()
        return str(result["status"] if isinstance(result, dict) else result.status)

    async def place_and_wait(self, phase: Phase) -> None:
        t0 = time.perf_counter()
        placement = await self.load.place()
        post = time.perf_counter() - t0
        order_id = accepted(placement)
        self.placed.append(order_id)
        status = await self.outcome(order_id)
        phase.post_latencies.append(post)
        phase.statuses[status] = phase.statuses.get(status, 0) + 1
        phase.record(order_workflow_id(order_id), time.perf_counter() - t0)


def accepted(placement: Placement) -> str:
    if placement.order_id is None:
        raise RuntimeError(f"order not accepted: {placement.error}")
    return placement.order_id


async def product_orders(
    orders: OrderClient,
    count: int,
    concurrency: int,
    name: str,
    *,
    progress: Progress | None = None,
) -> Phase:
    phase = Phase(name=name)

    async def one(_: int) -> None:
        await orders.place_and_wait(phase)

    if progress is None:
        await _bounded(phase, count, concurrency, one)
    else:
        async with progress.counting(name, lambda: phase.completed, count):
            await _bounded(phase, count, concurrency, one)
    return phase
