"""CPU seconds per order of each worker process, beside a bare saga's, on one live stack.

``python -m bench.worker_cost`` starts the stack the benchmark uses (dev Temporal,
PostgreSQL, Kafka, one worker process per queue, the API), places N orders over HTTP and
reports, per process, the CPU it spent per order (user + system, psutil), then does the
same for a bare three-activity saga whose worker uses a plain client (no codec, no
interceptors): the floor the SDK itself costs.

``--code DIR`` (repeatable) measures the workers of other checkouts of this repository on
the same stack, in turn and for ``--rounds`` rounds, so a change is compared with what it
replaced under the same load and the same noise. ``--profile DIR`` samples the worker
processes with py-spy during each measured phase; ``--threads`` splits each process's CPU
by thread name (the SDK's Rust core runs on threads of its own, which py-spy cannot see).

It shares the benchmark's bare worker (bench/bare.py), and the stack's deployed shape and
product fixture with the benchmark and the fault runs (devstack/stack_options.py,
devstack/deployed.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.client import Client

from bench.bare_workflow import BareQueues, BareSaga
from bench.cpu_meter import Meter
from bench.topology import create_product
from clients.temporal import connect_temporal
from devstack import deployed
from devstack.stack import Stack, StackOptions
from messages import queues
from messages.queues import order_workflow_id

BARE_PREFIX = "cost-bare-"
HERE = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- the bare saga


async def _bounded(count: int, concurrency: int, one: object) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def guarded() -> None:
        async with gate:
            await one()  # type: ignore[operator]

    await asyncio.gather(*(guarded() for _ in range(count)))


async def bare_sagas(client: Client, count: int, concurrency: int) -> None:
    task_queues = BareQueues.with_prefix(BARE_PREFIX)

    async def one() -> None:
        order_id = str(uuid.uuid4())
        await client.execute_workflow(
            BareSaga.run,
            args=[order_id, task_queues],
            id=f"bare-{order_id}",
            task_queue=task_queues.orders,
        )

    await _bounded(count, concurrency, one)


# ---------------------------------------------------------------- the product


@dataclass
class Orders:
    http: httpx.AsyncClient
    temporal: Client
    token: str
    product_id: str
    statuses: Counter[str] = field(default_factory=Counter)

    async def place(self) -> None:
        body = {
            "items": [{"product_id": self.product_id, "quantity": 1}],
            "payment": {"method": "card", "token": "tok_visa"},
        }
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": str(uuid.uuid4())}
        response = await self.http.post("/orders", json=body, headers=headers)
        response.raise_for_status()
        order_id = str(response.json()["order_id"])
        result = await self.temporal.get_workflow_handle(order_workflow_id(order_id)).result()
        status = result["status"] if isinstance(result, dict) else result.status
        self.statuses[str(status)] += 1

    async def run(self, count: int, concurrency: int) -> None:
        await _bounded(count, concurrency, self.place)


# ---------------------------------------------------------------- worker variants


def _spawn(stack: Stack, name: str, args: list[str], cwd: Path) -> int:
    return stack.spawn(name, args, cwd=cwd).pid


def _start_workers(stack: Stack, code: Path) -> dict[str, int]:
    for name in [n for n in stack.processes if n.startswith("worker-")]:
        stack.stop_process(name)
    return {
        f"worker-{queue}": _spawn(
            stack,
            f"worker-{queue}",
            [sys.executable, "-m", "workers", "--queue", queue],
            code,
        )
        for queue in queues.ALL
    }


def _profilers(pids: dict[str, int], out: Path, tag: str) -> list[subprocess.Popen[bytes]]:
    binary = Path(sys.executable).parent / "py-spy"
    out.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(  # noqa: S603 - a fixed program with our own pids
            [str(binary), "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
             "--nonblocking", "--gil", "--full-filenames",
             "--output", str(out / f"{tag}-{name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]  # fmt: skip


@dataclass
class Config:
    orders: int
    concurrency: int
    rounds: int
    codes: list[tuple[str, Path]]
    profile: Path | None
    threads: bool
    idle_seconds: float


async def _measure(config: Config, stack: Stack) -> list[dict[str, object]]:
    settings = deployed.temporal_settings(stack)
    address = settings.addresses[0]
    temporal = await connect_temporal(settings)
    plain = await Client.connect(address)
    bare_pid = _spawn(
        stack,
        "cost-bare-worker",
        [sys.executable, "-m", "bench.bare", "--address", address, "--prefix", BARE_PREFIX],
        HERE,
    )
    token = deployed.customer_token(stack, "cost-customer", "cost@example.com")
    assert stack.temporal is not None
    assert stack.temporal.pid is not None
    fixed = {"temporal": stack.temporal.pid, "api": stack.processes["api"].pid}
    results: list[dict[str, object]] = []
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:
        orders = Orders(http, temporal, token, create_product(stack))
        await bare_sagas(plain, 10, 5)
        for round_ in range(config.rounds):
            meter = Meter({**fixed, "bare-worker": bare_pid}, config.threads)
            meter.start()
            await bare_sagas(plain, config.orders, config.concurrency)
            results.append({"round": round_, "variant": "bare", **meter.stop(config.orders)})
            print(json.dumps(results[-1]), flush=True)  # noqa: T201
            for label, code in config.codes:
                pids = _start_workers(stack, code)
                await orders.run(10, 5)  # warm: connections, caches, imports
                if config.idle_seconds:
                    idle = Meter(pids)
                    idle.start()
                    await asyncio.sleep(config.idle_seconds)
                    idle_cost = idle.per_order(1)
                meter = Meter({**fixed, **pids}, config.threads)
                tag = f"r{round_}-{label}"
                spies = _profilers(pids, config.profile, tag) if config.profile else []
                orders.statuses.clear()
                meter.start()
                await orders.run(config.orders, config.concurrency)
                result = {"round": round_, "variant": label, **meter.stop(config.orders)}
                for spy in spies:
                    spy.send_signal(signal.SIGINT)
                for spy in spies:
                    spy.wait(timeout=60)
                result["statuses"] = dict(orders.statuses)
                if config.idle_seconds:
                    result["idle_cpu_ms_per_second"] = {
                        k: round(v / config.idle_seconds, 2) for k, v in idle_cost.items()
                    }
                results.append(result)
                print(json.dumps(result), flush=True)  # noqa: T201
    return results


def _stack(run_dir: Path, log_level: str) -> Stack:
    return Stack(
        StackOptions.deployed(
            run_dir / f"stack-{uuid.uuid4().hex[:6]}",
            extra_env={"ORDERS_TELEMETRY__LOG_LEVEL": log_level},
            # The machine may be busy; a slow start is not what this measures.
            ready_seconds=240.0,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--code",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="a checkout whose workers to measure (default: this one, as 'here')",
    )
    parser.add_argument("--profile", type=Path, help="py-spy raw profiles go here")
    parser.add_argument("--threads", action="store_true", help="CPU by thread name too")
    parser.add_argument("--idle", type=float, default=0.0, help="seconds of idle CPU to measure")
    parser.add_argument("--log-level", default="WARNING", help="the workers' (bench: WARNING)")
    parser.add_argument("--run-dir", type=Path, default=Path(".run/worker-cost"))
    parser.add_argument("--out", type=Path, help="JSON results go here")
    args = parser.parse_args()
    codes = [
        (label, Path(path).resolve())
        for label, _, path in (spec.partition("=") for spec in args.code)
    ] or [("here", HERE)]
    config = Config(
        args.orders, args.concurrency, args.rounds, codes, args.profile, args.threads, args.idle
    )
    stack = _stack(args.run_dir, args.log_level)
    try:
        stack.start()
        results = asyncio.run(_measure(config, stack))
    finally:
        stack.stop()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
