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

from bench.bare_workflow import BareSaga
from bench.load import OrderLoad
from messages.queues import TaskQueues, order_workflow_id


@dataclass
class Phase:
    name: str
    completed: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    post_latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def _bounded(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Runs ``one(i)`` for every i with at most ``concurrency`` in flight; returns seconds."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with gate:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in range(count)))
    return time.perf_counter() - started


async def bare_sagas(
    client: Client, queues: TaskQueues, count: int, concurrency: int, name: str = "limit"
) -> Phase:
    phase = Phase(name=name, completed=0, seconds=0.0)

    async def one(_: int) -> None:
        order_id = str(uuid.uuid4())
        t0 = time.perf_counter()
        await client.execute_workflow(
            BareSaga.run,
            args=[order_id, queues],
            id=f"bare-{order_id}",
            task_queue=queues.orders,
        )
        phase.latencies.append(time.perf_counter() - t0)
        phase.completed += 1

    phase.seconds = await _bounded(count, concurrency, one)
    return phase


@dataclass
class OrderClient:
    """Places orders over HTTP as a shop front would (bench/load.py), then waits for each
    saga's end through Temporal."""

    http: httpx.AsyncClient
    temporal: Client
    token: str
    product_id: str
    placed: list[str] = field(default_factory=list)

    async def place_and_wait(self, phase: Phase) -> None:
        load = OrderLoad(self.http, self.token, self.product_id)
        t0 = time.perf_counter()
        placement = await load.place()
        t1 = time.perf_counter()
        if placement.order_id is None:
            raise RuntimeError(f"order not accepted: {placement.error}")
        order_id = placement.order_id
        self.placed.append(order_id)
        result = await self.temporal.get_workflow_handle(order_workflow_id(order_id)).result()
        status = str(result["status"] if isinstance(result, dict) else result.status)
        phase.post_latencies.append(t1 - t0)
        phase.latencies.append(time.perf_counter() - t0)
        phase.statuses[status] = phase.statuses.get(status, 0) + 1
        phase.completed += 1


async def product_orders(orders: OrderClient, count: int, concurrency: int, name: str) -> Phase:
    phase = Phase(name=name, completed=0, seconds=0.0)

    async def one(_: int) -> None:
        await orders.place_and_wait(phase)

    phase.seconds = await _bounded(count, concurrency, one)
    return phase
