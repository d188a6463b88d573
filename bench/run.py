"""``make bench``: start the stack as a deployment runs it, then measure, in one run:

1. rounds of a bare-saga phase (the limit) and a product phase, interleaved: throughput,
   CPU per order of the Temporal server and of the workers, one saga alone;
2. POST /orders latency at a fixed arrival rate of half the product's peak (open loop);
3. Temporal's cost of one order: billable actions, history events and bytes;
4. every event on Kafka; payments scale-out (one worker process, then two); peak RSS.

Ratios between phases of one run are the result; absolute figures drift with the machine.
Progress goes to stderr; latest.json, latest.md and latest.png to the output folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from pathlib import Path
from typing import Any

import psutil

from bench import profile
from bench.config import BenchConfig
from bench.delivery import events_delivered
from bench.histories import history_cost
from bench.measure import median
from bench.open_loop import post_at_rate
from bench.progress import Progress
from bench.report import Results, write_report
from bench.rounds import run_rounds, warm_up
from bench.scale import scale_out
from bench.soak import soak, write_soak
from bench.topology import Bench, running_bench


async def _measure(config: BenchConfig, bench: Bench) -> Results:
    await warm_up(bench)
    rounds = await run_rounds(config, bench)
    peak = median([r.product.throughput for r in rounds])
    open_loop = await post_at_rate(bench, peak / 2, config.open_loop_seconds)
    bench.progress.say(f"reading {config.history_sample} histories of each kind")
    cost = {
        "product": await history_cost(
            bench.orders.temporal,
            [w for r in rounds for w in r.product.workflow_ids],
            config.history_sample,
        ),
        "limit": await history_cost(
            bench.plain, [w for r in rounds for w in r.limit.workflow_ids], config.history_sample
        ),
    }
    bench.progress.say("waiting for every event of the run's orders on Kafka")
    delivered = await events_delivered(bench.stack, list(bench.orders.placed), wait=120)
    bench.stack.stop_process("bare-worker")
    scale = await scale_out(config, bench)
    return Results(rounds, scale, open_loop, cost, delivered, dict(bench.rss.peaks))


async def _run(config: BenchConfig, progress: Progress) -> Results | dict[str, Any]:
    async with running_bench(config, progress, bare=not config.soak) as bench:
        if config.soak:
            return await soak(config, bench)
        return await _measure(config, bench)


def _config(args: argparse.Namespace) -> BenchConfig:
    config = BenchConfig.smoke() if args.smoke else BenchConfig()
    for name in ("orders", "concurrency", "rounds", "out_dir"):
        if getattr(args, name):
            setattr(config, name, getattr(args, name))
    config.profile = args.profile
    config.soak = args.soak
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few orders: the harness runs")
    parser.add_argument("--orders", type=int, help="sagas per load phase")
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--rounds", type=int, help="limit/product rounds (at least 2)")
    parser.add_argument("--out-dir", type=Path, help="where results go")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the project's processes (last round)"
    )
    parser.add_argument("--soak", type=int, default=0, help="only the memory soak, N orders")
    args = parser.parse_args()
    config = _config(args)
    if config.rounds < 2 and not config.soak:
        parser.error("--rounds must be at least 2: one round cannot show the spread")
    progress = Progress()
    started = time.time()
    results = asyncio.run(_run(config, progress))
    if isinstance(results, dict):
        write_soak(config, results)
        print(json.dumps(results, indent=2))  # noqa: T201
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
    for verdict in summary["verdicts"]:
        aim = "" if verdict["aim"] is None else f"; aim {verdict['aim']}: {verdict['aim_pass']}"
        progress.say(
            f"{verdict['key']} = {verdict['median']} ({verdict['min']} to {verdict['max']});"
            f" gate {verdict['gate']}: {verdict['gate_pass']}{aim}"
        )
    progress.say(f"written to {config.out_dir}/{config.name}.{{json,md,png}}")
    print(json.dumps(summary["ratios"], indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
