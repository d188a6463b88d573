"""Limit and product phases, interleaved: limit, product, limit, product…

Each round measures both sides back to back, so a burst of load from another tenant of the
machine falls into one round's pair rather than into one side only; the ratios are taken
per round and the report gives their median and spread.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from bench import measure, profile
from bench.config import BenchConfig
from bench.measure import Phase
from bench.memory import CpuMeter
from bench.topology import Bench, project_pids


@dataclass
class Round:
    number: int
    bare_single: Phase
    limit: Phase
    product_single: Phase
    product: Phase
    # CPU seconds per process during the round's load phases.
    cpu_limit: dict[str, float]
    cpu_product: dict[str, float]


async def warm_up(bench: Bench) -> None:
    """Connections, caches and imports of both paths, before anything is timed."""
    await measure.bare_sagas(
        bench.plain, bench.bare_queues, 5, 5, "warm-up, limit", progress=bench.progress
    )
    await measure.product_orders(bench.orders, 5, 5, "warm-up, product", progress=bench.progress)


async def run_rounds(config: BenchConfig, bench: Bench) -> list[Round]:
    cpu = CpuMeter(bench.stack.pids)
    rounds = []
    for number in range(1, config.rounds + 1):
        label = f"round {number}/{config.rounds}"
        bare_single = await measure.bare_sagas(
            bench.plain,
            bench.bare_queues,
            config.latency_samples,
            1,
            f"limit one at a time, {label}",
            progress=bench.progress,
        )
        cpu.start()
        limit = await measure.bare_sagas(
            bench.plain,
            bench.bare_queues,
            config.orders,
            config.concurrency,
            f"limit, {label}",
            progress=bench.progress,
        )
        cpu_limit = cpu.stop()
        product_single = await measure.product_orders(
            bench.orders,
            config.latency_samples,
            1,
            f"product one at a time, {label}",
            progress=bench.progress,
        )
        # py-spy samples the last round's product phase only: one profile, not one per round.
        profiling = config.profile and number == config.rounds
        profilers = (
            profile.start(project_pids(bench.stack), config.out_dir / "profiles", 3600)
            if profiling
            else []
        )
        cpu.start()
        product = await measure.product_orders(
            bench.orders,
            config.orders,
            config.concurrency,
            f"product, {label}",
            progress=bench.progress,
        )
        cpu_product = cpu.stop()
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
        for profiler in profilers:
            profiler.wait(timeout=60)
        rounds.append(
            Round(number, bare_single, limit, product_single, product, cpu_limit, cpu_product)
        )
    return rounds
