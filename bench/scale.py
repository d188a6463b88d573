"""Payments scale-out: with payments the bottleneck, does a second worker process double it?

A slow provider (a provider service of its own, so the stack's stays fast) and a capped
activity pool make one payments worker the bottleneck; each round measures one process,
then two, then stops the second again.
"""

from __future__ import annotations

import asyncio
import sys
import time

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench import measure
from bench.config import BenchConfig
from bench.measure import Phase
from bench.topology import Bench
from devstack.payment_provider import PaymentProviderService
from messages import queues

ONE, TWO = "payments-slow-1", "payments-slow-2"


async def scale_out(config: BenchConfig, bench: Bench) -> list[tuple[Phase, Phase]]:
    stack = bench.stack
    slow_dir = stack.options.run_dir / "slow-provider"
    slow_dir.mkdir(parents=True, exist_ok=True)
    slow = PaymentProviderService(
        slow_dir,
        env={
            **stack.child_env(),
            "ORDERS_PAYMENTS__GATEWAY_LATENCY_MS": str(config.gateway_latency_ms),
        },
    )
    bench.progress.say(f"scale-out: a provider answering in {config.gateway_latency_ms} ms")
    slow.start()
    env = {
        "ORDERS_PAYMENTS__PROVIDER_URL": slow.url,
        "ORDERS_WORKERS__PAYMENTS_MAX_CONCURRENT_ACTIVITIES": str(config.payments_cap),
    }
    worker = [sys.executable, "-m", "workers", "--queue", queues.PAYMENTS]
    rounds = []
    try:
        bench.progress.say("scale-out: the payments worker replaced by a capped one")
        stack.stop_process(f"worker-{queues.PAYMENTS}")
        await _spawn(bench, ONE, worker, env)
        for number in range(1, config.scale_rounds + 1):
            label = f"round {number}/{config.scale_rounds}"
            one = await measure.product_orders(
                bench.orders,
                config.scale_orders,
                config.scale_concurrency,
                f"one payments worker, {label}",
                progress=bench.progress,
            )
            bench.progress.say("scale-out: starting a second payments worker")
            await _spawn(bench, TWO, worker, env)
            two = await measure.product_orders(
                bench.orders,
                config.scale_orders,
                config.scale_concurrency,
                f"two payments workers, {label}",
                progress=bench.progress,
            )
            rounds.append((one, two))
            if number < config.scale_rounds:
                # Stopped gracefully, it tells the server its polls are gone: no task is
                # handed to a process that no longer runs.
                bench.progress.say("scale-out: stopping the second payments worker")
                stack.stop_process(TWO)
    finally:
        slow.stop()
    return rounds


async def _spawn(bench: Bench, name: str, args: list[str], env: dict[str, str]) -> None:
    bench.stack.spawn(name, args, env, sdk_metrics=True)
    await polling(bench.orders.temporal, bench.stack.processes[name].pid)


async def polling(client: Client, pid: int, wait: float = 60.0) -> None:
    """Until the worker process ``pid`` polls the payments queue (its identity is pid@host)."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=queues.PAYMENTS),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        described = await client.workflow_service.describe_task_queue(request)
        if any(p.identity.startswith(f"{pid}@") for p in described.pollers):
            return
        await asyncio.sleep(0.25)
    raise TimeoutError(f"payments worker {pid} did not start polling within {wait}s")
