"""``make bench``: start the stack as production runs it, then measure every phase in one run.

Phases: the bare-saga limit, the product over HTTP, Kafka delivery, payments scale-out
(one worker process, then two, with a slow gateway and capped concurrency), and peak RSS.
Ratios between phases of one run are the result; absolute figures drift with the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import psycopg
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench import measure, profile
from bench.kafka_count import count_events
from bench.memory import CpuMeter, PeakRss
from bench.report import write_report
from clients.temporal import connect_temporal
from config.settings import TemporalSettings, load_settings
from devstack.stack import Stack, StackOptions
from messages import queues
from messages.queues import TaskQueues
from tools.token import mint_token


@dataclass
class BenchConfig:
    orders: int = 400
    concurrency: int = 24
    latency_samples: int = 15
    scale_orders: int = 40
    scale_concurrency: int = 16
    # Slow enough that one capped payments worker is the bottleneck, well under the
    # throughput the rest of the stack reaches here, so the second worker can show.
    gateway_latency_ms: int = 500
    payments_cap: int = 1
    run_dir: Path = Path(".run/bench")
    out_dir: Path = Path("bench/results")
    name: str = "latest"
    profile: bool = False
    # Orders for the memory soak (0 = skip): RSS after the first tenth vs at the end.
    soak: int = 0

    @classmethod
    def smoke(cls) -> BenchConfig:
        return cls(
            orders=6,
            concurrency=3,
            latency_samples=2,
            scale_orders=4,
            scale_concurrency=4,
            gateway_latency_ms=50,
            name="smoke",
            out_dir=Path(".run/bench-smoke"),
            run_dir=Path(".run/bench-smoke"),
        )


def _stack(config: BenchConfig) -> Stack:
    return Stack(
        StackOptions(
            run_dir=config.run_dir / f"stack-{uuid.uuid4().hex[:6]}",
            temporal_port=0,
            ui_port=0,
            api_port=0,
            postgres=True,
            postgres_durable=True,
            kafka=True,
            worker_groups=[[name] for name in queues.ALL],
            seed=False,
            extra_env={"ORDERS_TELEMETRY__LOG_LEVEL": "WARNING"},
        )
    )


def _python_pids(stack: Stack) -> dict[str, int]:
    """The project's own processes (not Temporal, PostgreSQL or Kafka) for the profiler."""
    return {
        name: pid
        for name, pid in stack.pids().items()
        if name == "api" or name.startswith("worker-") or name == "outbox-relay"
    }


def _create_product(stack: Stack) -> str:
    """A product with stock that no run can exhaust, written straight into the database."""
    assert stack.postgres is not None
    product_id = f"sku-bench-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    with psycopg.connect(stack.postgres.conninfo("orders"), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO products (id, name, unit_price, currency, created_at, updated_at)"
            " VALUES (%s, 'Benchmark beans', 12.50, 'EUR', %s, %s)",
            (product_id, now, now),
        )
        conn.execute(
            "INSERT INTO inventory (product_id, quantity, reserved, reorder_point,"
            " reorder_quantity, updated_at) VALUES (%s, 1000000000, 0, 0, 0, %s)",
            (product_id, now),
        )
    return product_id


def _unpublished_and_total(stack: Stack, order_ids: list[str]) -> tuple[int, int]:
    assert stack.postgres is not None
    with psycopg.connect(stack.postgres.conninfo("orders")) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE published_at IS NULL), count(*) FROM events"
            " WHERE aggregate_id = ANY(%s)",
            (order_ids,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def _events_delivered(stack: Stack, order_ids: list[str], wait: float) -> dict[str, int]:
    """Waits for the relay to drain, then counts the orders' events on the topics by ce_id."""
    deadline = time.monotonic() + wait
    unpublished, total = _unpublished_and_total(stack, order_ids)
    while unpublished and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        unpublished, total = _unpublished_and_total(stack, order_ids)
    assert stack.kafka is not None
    on_topics = await asyncio.to_thread(
        count_events, stack.kafka.bootstrap_servers, set(order_ids), total, wait
    )
    return {"in_event_store": total, "unpublished": unpublished, "on_topics": on_topics}


async def _run(config: BenchConfig) -> dict[str, object]:
    stack = _stack(config)
    stack.start()
    try:
        with PeakRss(stack.pids) as rss:
            if config.soak:
                return await _soak(config, stack, rss)
            return await _measure(config, stack, rss)
    finally:
        stack.stop()


@asynccontextmanager
async def _order_client(stack: Stack, client: Client) -> AsyncIterator[measure.OrderClient]:
    """A customer placing orders over HTTP, for a product of its own with ample stock."""
    settings = load_settings()
    token = mint_token(settings.auth, "bench-customer", "customer", email="bench@example.com")
    product_id = _create_product(stack)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:
        yield measure.OrderClient(http, client, token, product_id)


async def _soak(config: BenchConfig, stack: Stack, rss: PeakRss) -> dict[str, object]:
    """N orders; the project's processes' RSS after the first tenth and at the end."""
    client = await connect_temporal(TemporalSettings(address=stack.env["ORDERS_TEMPORAL__ADDRESS"]))
    ours = _python_pids(stack)
    async with _order_client(stack, client) as orders:
        first = max(1, config.soak // 10)
        await measure.product_orders(orders, first, config.concurrency, "soak-start")
        after_first = {k: v for k, v in rss.sample().items() if k in ours}
        rest = await measure.product_orders(orders, config.soak - first, config.concurrency, "soak")
        at_end = {k: v for k, v in rss.sample().items() if k in ours}
    growth = {name: round(at_end[name] / after_first[name], 3) for name in after_first}
    return {
        "soak": {
            "orders": config.soak,
            "statuses": rest.statuses,
            "rss_mib_after_first_tenth": {k: round(v / 2**20, 1) for k, v in after_first.items()},
            "rss_mib_at_end": {k: round(v / 2**20, 1) for k, v in at_end.items()},
            "growth_ratio": growth,
            "target": "each ratio <= 1.10",
        }
    }


async def _measure(config: BenchConfig, stack: Stack, rss: PeakRss) -> dict[str, object]:
    address = stack.env["ORDERS_TEMPORAL__ADDRESS"]
    client: Client = await connect_temporal(TemporalSettings(address=address))
    bare_queues = TaskQueues.with_prefix("bare-")
    stack.spawn(
        "bare-worker",
        [sys.executable, "-m", "bench.bare", "--address", address, "--prefix", "bare-"],
    )
    results: dict[str, object] = {}
    async with _order_client(stack, client) as orders:
        # Warm both paths (connections, caches, imports) before timing.
        await measure.bare_sagas(client, bare_queues, 5, 5, "warmup")
        await measure.product_orders(orders, 5, 5, "warmup")
        bare_single = await measure.bare_sagas(client, bare_queues, config.latency_samples, 1)
        product_single = await measure.product_orders(orders, config.latency_samples, 1, "one")
        cpu = CpuMeter(stack.pids)
        cpu.start()
        limit = await measure.bare_sagas(client, bare_queues, config.orders, config.concurrency)
        limit_cpu = cpu.stop()
        orders.placed.clear()
        profilers = (
            profile.start(_python_pids(stack), config.out_dir / "profiles", 3600)
            if config.profile
            else []
        )
        cpu.start()
        product = await measure.product_orders(orders, config.orders, config.concurrency, "product")
        product_cpu = cpu.stop()
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
        for profiler in profilers:
            profiler.wait(timeout=60)
        delivered = await _events_delivered(stack, list(orders.placed), wait=120)
        stack.stop_process("bare-worker")
        scale = await _scale_out(config, stack, orders)
    results.update(
        limit=limit,
        product=product,
        bare_single=bare_single,
        product_single=product_single,
        delivered=delivered,
        scale=scale,
        rss=dict(rss.peaks),
        cpu_seconds={"limit": limit_cpu, "product": product_cpu},
    )
    return results


async def _scale_out(
    config: BenchConfig, stack: Stack, orders: measure.OrderClient
) -> dict[str, measure.Phase]:
    """Payments as the bottleneck: a slow gateway and a capped pool, one process then two."""
    # The slow provider is the in-process simulation on one shared ledger file, so its
    # latency is these workers' own and the stack's provider service stays fast.
    slow = {
        "ORDERS_PAYMENTS__PROVIDER_URL": "",
        "ORDERS_PAYMENTS__SIMULATED_LEDGER_PATH": str(
            stack.options.run_dir.absolute() / "slow-provider.sqlite3"
        ),
        "ORDERS_PAYMENTS__GATEWAY_LATENCY_MS": str(config.gateway_latency_ms),
        "ORDERS_WORKERS__PAYMENTS_MAX_CONCURRENT_ACTIVITIES": str(config.payments_cap),
    }
    worker = [sys.executable, "-m", "workers", "--queue", queues.PAYMENTS]
    stack.stop_process(f"worker-{queues.PAYMENTS}")
    stack.spawn("payments-slow-1", worker, slow)
    await _polling(orders.temporal, stack.processes["payments-slow-1"].pid)
    one = await measure.product_orders(
        orders, config.scale_orders, config.scale_concurrency, "one payments worker"
    )
    stack.spawn("payments-slow-2", worker, slow)
    await _polling(orders.temporal, stack.processes["payments-slow-2"].pid)
    two = await measure.product_orders(
        orders, config.scale_orders, config.scale_concurrency, "two payments workers"
    )
    return {"one": one, "two": two}


async def _polling(client: Client, pid: int, wait: float = 60.0) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few orders: the harness runs")
    parser.add_argument("--orders", type=int)
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--out-dir", type=Path, help="where the table and JSON go")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the project's processes (product phase)"
    )
    parser.add_argument("--soak", type=int, default=0, help="only the memory soak, N orders")
    args = parser.parse_args()
    config = BenchConfig.smoke() if args.smoke else BenchConfig()
    if args.orders:
        config.orders = args.orders
    if args.concurrency:
        config.concurrency = args.concurrency
    config.profile = args.profile
    config.soak = args.soak
    if args.out_dir:
        config.out_dir = args.out_dir
    started = time.time()
    results = asyncio.run(_run(config))
    if config.soak:
        config.out_dir.mkdir(parents=True, exist_ok=True)
        soak = json.dumps(results["soak"], indent=2)
        (config.out_dir / "soak.json").write_text(soak + "\n")
        print(soak)  # noqa: T201
        return
    machine = {
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "seconds": round(time.time() - started, 1),
    }
    summary = write_report(config, results, machine)
    if config.profile:
        profile.write_summary(config.out_dir / "profiles")
    print(json.dumps(summary["ratios"], indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
