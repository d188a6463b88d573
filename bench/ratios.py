"""Ratios per round, their median and spread, and the gates and aims they are judged by.

A gate is what a release must meet; an aim is where the cost work is heading. Both are
judged on the median of the rounds, never on one round: one noisy neighbour on a shared
machine must not decide a gate.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.measure import Phase, median
from bench.rounds import Round

BARE_WORKER = "bare-worker"
SERVER = "temporal"


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    op: str  # "<=", "<" or ">="
    gate: float
    aim: float | None = None

    def meets(self, value: float, bound: float) -> bool:
        return not math.isnan(value) and _OPS[self.op](value, bound)


_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
}

TARGETS = (
    Target("worker_cpu_per_order_over_limit", "workers' CPU per order ÷ bare's", "<=", 2.0, 1.5),
    Target("server_cpu_per_order_over_limit", "server CPU per order ÷ limit's", "<=", 1.25, 1.15),
    Target("throughput_product_over_limit", "sagas/s at concurrency ÷ limit's", ">=", 0.6, 0.65),
    Target("latency_p50_product_over_limit", "one saga alone, p50 ÷ limit's", "<=", 1.25),
    Target("post_p99_ms_at_half_peak", "POST /orders p99 ms, open loop at half peak", "<", 100, 50),
    Target("payments_two_over_one_worker", "payments-bound orders/s, 2 workers ÷ 1", ">=", 1.8),
)


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _per_order(cpu: dict[str, float], names: Callable[[str], bool], phase: Phase) -> float:
    return _ratio(sum(seconds for name, seconds in cpu.items() if names(name)), phase.completed)


def round_ratios(r: Round) -> dict[str, float]:
    def ours(name: str) -> bool:
        return name.startswith("worker-")

    return {
        "throughput_product_over_limit": _ratio(r.product.throughput, r.limit.throughput),
        "server_cpu_per_order_over_limit": _ratio(
            _per_order(r.cpu_product, lambda n: n == SERVER, r.product),
            _per_order(r.cpu_limit, lambda n: n == SERVER, r.limit),
        ),
        "worker_cpu_per_order_over_limit": _ratio(
            _per_order(r.cpu_product, ours, r.product),
            _per_order(r.cpu_limit, lambda n: n == BARE_WORKER, r.limit),
        ),
        "latency_p50_product_over_limit": _ratio(
            median(r.product_single.latencies), median(r.bare_single.latencies)
        ),
    }


def spread(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        nan = float("nan")
        return {"median": nan, "min": nan, "max": nan, "rounds": list(values)}
    return {
        "median": round(median(finite), digits),
        "min": round(min(finite), digits),
        "max": round(max(finite), digits),
        "rounds": [round(v, digits) for v in values],
    }


def ratio_spreads(
    rounds: Sequence[Round], scale: Sequence[tuple[Phase, Phase]], post_p99_ms: float
) -> dict[str, dict[str, Any]]:
    per_round = [round_ratios(r) for r in rounds]
    spreads = {key: spread([ratios[key] for ratios in per_round]) for key in per_round[0]}
    spreads["payments_two_over_one_worker"] = spread(
        [_ratio(two.steady_throughput, one.steady_throughput) for one, two in scale]
    )
    spreads["post_p99_ms_at_half_peak"] = spread([post_p99_ms], digits=1)
    return spreads


def judge(spreads: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    verdicts = []
    for target in TARGETS:
        value = float(spreads[target.key]["median"])
        verdicts.append(
            {
                "key": target.key,
                "label": target.label,
                **spreads[target.key],
                "gate": f"{target.op} {target.gate:g}",
                "gate_pass": target.meets(value, target.gate),
                "aim": None if target.aim is None else f"{target.op} {target.aim:g}",
                "aim_pass": None if target.aim is None else target.meets(value, target.aim),
            }
        )
    return verdicts
