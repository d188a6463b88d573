"""latest.md: the gates first, then the figures behind them, from the run's summary."""

from __future__ import annotations

from typing import Any

_OPS = {"<=": "≤", "<": "<", ">=": "≥"}


def _mark(passed: bool | None) -> str:
    return "" if passed is None else ("✓" if passed else "✗")


def _bound(text: str | None) -> str:
    if text is None:
        return ""
    op, _, value = text.partition(" ")
    return f"{_OPS.get(op, op)} {value}"


def _gates(verdicts: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| measure | median | spread (min to max) | per round | gate | | aim | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        rounds = ", ".join(str(x) for x in v["rounds"])
        rows.append(
            f"| {v['label']} (`{v['key']}`) | **{v['median']}** | {v['min']} to {v['max']}"
            f" | {rounds} | {_bound(v['gate'])} | {_mark(v['gate_pass'])}"
            f" | {_bound(v['aim'])} | {_mark(v['aim_pass'])} |"
        )
    return rows


def _per_order_ms(cpu: dict[str, float], names: list[str], orders: int) -> float:
    return round(1000 * sum(cpu.get(n, 0.0) for n in names) / orders, 1) if orders else 0.0


def _rounds(rounds: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| round | sagas/s limit → product | server CPU ms/order limit → product"
        " | worker CPU ms/order bare → ours | one saga alone p50 ms limit → product |",
        "|---|---|---|---|---|",
    ]
    for r in rounds:
        limit, product = r["limit"], r["product"]
        cpu_l, cpu_p = r["cpu_seconds"]["limit"], r["cpu_seconds"]["product"]
        ours = [name for name in cpu_p if name.startswith("worker-")]
        rows.append(
            f"| {r['round']} | {limit['per_second']} → {product['per_second']}"
            f" | {_per_order_ms(cpu_l, ['temporal'], limit['completed'])} →"
            f" {_per_order_ms(cpu_p, ['temporal'], product['completed'])}"
            f" | {_per_order_ms(cpu_l, ['bare-worker'], limit['completed'])} →"
            f" {_per_order_ms(cpu_p, ours, product['completed'])}"
            f" | {r['bare_single']['latency_p50_ms']} → {r['product_single']['latency_p50_ms']} |"
        )
    return rows


def _temporal_cost(cost: dict[str, dict[str, Any]]) -> list[str]:
    bare, product = cost["limit"], cost["product"]
    rows = [
        f"| per order (mean of {product['sampled']} histories each) | bare saga | product |",
        "|---|---|---|",
        f"| billable actions | {bare['actions']} | {product['actions']} |",
        f"| history events | {bare['events']} | {product['events']} |",
        f"| history bytes | {bare['bytes']} | {product['bytes']} |",
    ]
    kinds = sorted(set(bare["actions_by_kind"]) | set(product["actions_by_kind"]))
    rows += [
        f"| actions: {kind} | {bare['actions_by_kind'].get(kind, 0)}"
        f" | {product['actions_by_kind'].get(kind, 0)} |"
        for kind in kinds
    ]
    return rows


def _cpu(cpu: dict[str, Any]) -> list[str]:
    limit, product, orders = cpu["limit"], cpu["product"], cpu["orders_per_side"]
    rows = [
        "| process | CPU s, limit phases | ms per saga | CPU s, product phases | ms per order |",
        "|---|---|---|---|---|",
    ]
    rows += [
        f"| {name} | {limit.get(name, '')} | {_per_order_ms(limit, [name], orders['limit'])}"
        f" | {product.get(name, '')} | {_per_order_ms(product, [name], orders['product'])} |"
        for name in sorted(set(limit) | set(product))
    ]
    return rows


def markdown(s: dict[str, Any], picture: str) -> str:
    m, c, o = s["machine"], s["config"], s["open_loop"]
    statuses: dict[str, int] = {}
    for r in s["rounds"]:
        for status, n in r["product"]["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    events = s["events"]
    scale = ", ".join(
        f"{x['one']['steady_per_second']} → {x['two']['steady_per_second']}" for x in s["scale"]
    )
    rss = ", ".join(f"{k} {v}" for k, v in s["peak_rss_mib"].items())
    lines = [
        f"Run {s['when']} on {m['cpus']} CPUs / {m['memory_gib']} GiB, Python {m['python']}"
        f" ({m['seconds']} s): {c['rounds']} rounds, each a limit phase then a product phase"
        f" of {c['orders']} sagas at concurrency {c['concurrency']}.",
        "",
        f"![throughput over time and latency distributions]({picture})",
        "",
        "## Gates and aims (median of the rounds)",
        "",
        *_gates(s["verdicts"]),
        "",
        "## Per round",
        "",
        *_rounds(s["rounds"]),
        "",
        "## Temporal's cost of one order",
        "",
        *_temporal_cost(s["temporal_cost_per_order"]),
        "",
        "## POST /orders at half the peak, open loop",
        "",
        f"{o['orders']} POSTs at {o['rate_per_s']}/s for {o['seconds']} s: p50 {o['post_p50_ms']}"
        f" ms, p90 {o['post_p90_ms']} ms, p99 {o['post_p99_ms']} ms, max {o['post_max_ms']} ms"
        f" (sent late by {o['sent_late_p99_ms']} ms at p99); outcomes {o['statuses']}.",
        "",
        "## Payments scale-out",
        "",
        f"Payments-bound orders/s ({c['gateway_latency_ms']} ms provider,"
        f" {c['payments_cap']} slot per worker), one → two worker processes, per round: {scale}"
        " (from the first order's end to the last's).",
        "",
        "## CPU per process (load phases of every round)",
        "",
        *_cpu(s["cpu_seconds"]),
        "",
        f"Product orders by outcome: {statuses}. Kafka: {events['on_topics']} of"
        f" {events['in_event_store']} events of the run's orders on the topics"
        f" ({events['unpublished']} still unpublished).",
        "",
        f"Peak RSS (MiB): {rss}.",
        "",
    ]
    return "\n".join(lines)
