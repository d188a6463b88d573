"""Writes the run as a markdown table and a JSON file of figures and ratios."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bench.measure import Phase, median, percentile

if TYPE_CHECKING:
    from bench.run import BenchConfig

MIB = 2**20


def _phase(phase: Phase) -> dict[str, Any]:
    return {
        "completed": phase.completed,
        "seconds": round(phase.seconds, 3),
        "per_second": round(phase.throughput, 2),
        "latency_p50_ms": round(median(phase.latencies) * 1000, 1),
        "latency_p95_ms": round(percentile(phase.latencies, 95) * 1000, 1),
        "latency_p99_ms": round(percentile(phase.latencies, 99) * 1000, 1),
        "post_p50_ms": round(median(phase.post_latencies) * 1000, 1),
        "post_p99_ms": round(percentile(phase.post_latencies, 99) * 1000, 1),
        "statuses": phase.statuses,
    }


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def write_report(
    config: BenchConfig, results: dict[str, Any], machine: dict[str, Any]
) -> dict[str, Any]:
    limit: Phase = results["limit"]
    product: Phase = results["product"]
    bare_single: Phase = results["bare_single"]
    product_single: Phase = results["product_single"]
    scale: dict[str, Phase] = results["scale"]
    ratios = {
        "throughput_product_over_limit": _ratio(product.throughput, limit.throughput),
        "latency_p50_product_over_limit": _ratio(
            median(product_single.latencies), median(bare_single.latencies)
        ),
        "payments_two_over_one_worker": _ratio(scale["two"].throughput, scale["one"].throughput),
    }
    summary: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "config": {k: str(v) for k, v in asdict(config).items()} if is_dataclass(config) else {},
        "ratios": ratios,
        "phases": {
            "limit": _phase(limit),
            "product": _phase(product),
            "bare_single": _phase(bare_single),
            "product_single": _phase(product_single),
            "payments_one_worker": _phase(scale["one"]),
            "payments_two_workers": _phase(scale["two"]),
        },
        "events": results["delivered"],
        "peak_rss_mib": {k: round(v / MIB, 1) for k, v in sorted(results["rss"].items())},
        # Where the machine's two cores went in each phase: the Temporal server is
        # CPU-bound, so every second our processes use is taken from it.
        "cpu_seconds": results["cpu_seconds"],
    }
    config.out_dir.mkdir(parents=True, exist_ok=True)
    (config.out_dir / f"{config.name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    (config.out_dir / f"{config.name}.md").write_text(_markdown(summary))
    return summary


def _markdown(s: dict[str, Any]) -> str:
    p = s["phases"]
    r = s["ratios"]
    m = s["machine"]
    rows = [
        "| measure | bare Temporal saga (limit) | product | ratio | target |",
        "|---|---|---|---|---|",
        f"| sagas/s at concurrency | {p['limit']['per_second']} | {p['product']['per_second']}"
        f" | {r['throughput_product_over_limit']} | ≥ 0.8 |",
        f"| one saga alone, p50 ms | {p['bare_single']['latency_p50_ms']}"
        f" | {p['product_single']['latency_p50_ms']} | {r['latency_p50_product_over_limit']}"
        " | ≤ 1.25 |",
        f"| p95 / p99 ms under load | {p['limit']['latency_p95_ms']} /"
        f" {p['limit']['latency_p99_ms']} | {p['product']['latency_p95_ms']} /"
        f" {p['product']['latency_p99_ms']} | | |",
        f"| POST /orders p50 / p99 ms | | {p['product']['post_p50_ms']} /"
        f" {p['product']['post_p99_ms']} | | p99 < 50 |",
        f"| payments-bound orders/s, 1 → 2 workers | | {p['payments_one_worker']['per_second']}"
        f" → {p['payments_two_workers']['per_second']} | {r['payments_two_over_one_worker']}"
        " | ≥ 1.8 |",
    ]
    events = s["events"]
    rss = ", ".join(f"{k} {v}" for k, v in s["peak_rss_mib"].items())
    cpu_rows = ["| process | CPU s, limit phase | CPU s, product phase |", "|---|---|---|"]
    cpu = s["cpu_seconds"]
    cpu_rows += [
        f"| {name} | {cpu['limit'].get(name, '')} | {cpu['product'].get(name, '')} |"
        for name in sorted(set(cpu["limit"]) | set(cpu["product"]))
    ]
    return (
        f"Run {s['when']} on {m['cpus']} CPUs / {m['memory_gib']} GiB, Python {m['python']}"
        f" ({m['seconds']} s).\n\n"
        + "\n".join(rows)
        + f"\n\nOrders by outcome: {p['product']['statuses']}. Kafka: {events['on_topics']} of"
        f" {events['in_event_store']} events of those orders on the topics"
        f" ({events['unpublished']} still unpublished).\n\nPeak RSS (MiB): {rss}.\n\n"
        "CPU seconds per process (same number of sagas in each phase):\n\n"
        + "\n".join(cpu_rows)
        + "\n"
    )
