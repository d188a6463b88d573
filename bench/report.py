"""The run as figures: latest.json (every figure and ratio), latest.md and latest.png."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from bench import plot
from bench.config import BenchConfig
from bench.histories import HistoryCost
from bench.markdown import markdown
from bench.measure import Phase, median, percentile
from bench.open_loop import OpenLoop
from bench.ratios import judge, ratio_spreads, round_ratios
from bench.rounds import Round

MIB = 2**20


@dataclass
class Results:
    rounds: list[Round]
    scale: list[tuple[Phase, Phase]]
    open_loop: OpenLoop
    # "product" and "limit": Temporal's cost of one order, from histories.
    cost: dict[str, HistoryCost]
    delivered: dict[str, int]
    peak_rss: dict[str, int]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def phase_figures(phase: Phase) -> dict[str, Any]:
    return {
        "completed": phase.completed,
        "seconds": round(phase.seconds, 3),
        "per_second": round(phase.throughput, 2),
        "steady_per_second": round(phase.steady_throughput, 2),
        "latency_p50_ms": ms(median(phase.latencies)),
        "latency_p95_ms": ms(percentile(phase.latencies, 95)),
        "latency_p99_ms": ms(percentile(phase.latencies, 99)),
        "post_p50_ms": ms(median(phase.post_latencies)),
        "post_p99_ms": ms(percentile(phase.post_latencies, 99)),
        "statuses": phase.statuses,
    }


def _open_loop(run: OpenLoop) -> dict[str, Any]:
    return {
        "rate_per_s": round(run.rate, 2),
        "seconds": run.seconds,
        "orders": len(run.post_latencies),
        "post_p50_ms": ms(median(run.post_latencies)),
        "post_p90_ms": ms(percentile(run.post_latencies, 90)),
        "post_p99_ms": ms(percentile(run.post_latencies, 99)),
        "post_max_ms": ms(max(run.post_latencies)),
        # How late the load generator sent its POSTs: large values would mean it, not the
        # API, set the pace.
        "sent_late_p99_ms": ms(percentile(run.lateness, 99)),
        "statuses": run.statuses,
    }


def _cpu_totals(rounds: list[Round]) -> dict[str, dict[str, float]]:
    limit: Counter[str] = Counter()
    product: Counter[str] = Counter()
    for r in rounds:
        limit.update(r.cpu_limit)
        product.update(r.cpu_product)
    return {
        "limit": {k: round(v, 2) for k, v in sorted(limit.items())},
        "product": {k: round(v, 2) for k, v in sorted(product.items())},
        "orders_per_side": {
            "limit": sum(r.limit.completed for r in rounds),
            "product": sum(r.product.completed for r in rounds),
        },
    }


def summarise(config: BenchConfig, results: Results, machine: dict[str, Any]) -> dict[str, Any]:
    post_p99 = ms(percentile(results.open_loop.post_latencies, 99))
    spreads = ratio_spreads(results.rounds, results.scale, post_p99)
    cost = results.cost
    ratios: dict[str, Any] = {key: value["median"] for key, value in spreads.items()}
    ratios["post_p50_ms_at_half_peak"] = ms(median(results.open_loop.post_latencies))
    ratios["actions_per_order"] = {side: cost[side].actions for side in ("product", "limit")}
    ratios["history_events_per_order"] = {side: cost[side].events for side in ("product", "limit")}
    ratios["history_bytes_per_order"] = {side: cost[side].bytes for side in ("product", "limit")}
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "config": {k: str(v) for k, v in asdict(config).items()},
        "ratios": ratios,
        "spreads": spreads,
        "verdicts": judge(spreads),
        "rounds": [
            {
                "round": r.number,
                "limit": phase_figures(r.limit),
                "product": phase_figures(r.product),
                "bare_single": phase_figures(r.bare_single),
                "product_single": phase_figures(r.product_single),
                "ratios": {k: round(v, 3) for k, v in round_ratios(r).items()},
                "cpu_seconds": {"limit": r.cpu_limit, "product": r.cpu_product},
            }
            for r in results.rounds
        ],
        "open_loop": _open_loop(results.open_loop),
        "temporal_cost_per_order": {side: asdict(c) for side, c in cost.items()},
        "scale": [
            {"one": phase_figures(one), "two": phase_figures(two)} for one, two in results.scale
        ],
        "events": results.delivered,
        "peak_rss_mib": {k: round(v / MIB, 1) for k, v in sorted(results.peak_rss.items())},
        # Where the machine's cores went: the Temporal server is CPU-bound, so every second
        # our processes use is taken from it.
        "cpu_seconds": _cpu_totals(results.rounds),
    }


def write_report(config: BenchConfig, results: Results, machine: dict[str, Any]) -> dict[str, Any]:
    summary = summarise(config, results, machine)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    (config.out_dir / f"{config.name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    picture = plot.draw(results.rounds, config.out_dir / f"{config.name}.png")
    (config.out_dir / f"{config.name}.md").write_text(markdown(summary, picture.name))
    return summary
