"""``--soak N``: N orders through the deployed stack; does any process of ours keep growing?

RSS of every project process (API, each worker, the relay) once the first orders have
warmed its caches and pools, against RSS at the end; and, since a long run is where a slow
leak of orders or events would show, every order must end CONFIRMED and every one of their
events must be on Kafka.
"""

from __future__ import annotations

import json
from typing import Any

from bench import measure
from bench.config import BenchConfig
from bench.delivery import events_delivered
from bench.topology import Bench, project_pids

GROWTH_LIMIT = 1.10


async def soak(config: BenchConfig, bench: Bench) -> dict[str, Any]:
    ours = project_pids(bench.stack)
    first_n = config.soak_first
    first = await measure.product_orders(
        bench.orders, first_n, config.concurrency, f"soak, first {first_n}", progress=bench.progress
    )
    after_first = {k: v for k, v in bench.rss.sample().items() if k in ours}
    rest = await measure.product_orders(
        bench.orders,
        config.soak - first_n,
        config.concurrency,
        "soak, the rest",
        progress=bench.progress,
    )
    at_end = {k: v for k, v in bench.rss.sample().items() if k in ours}
    statuses = dict(first.statuses)
    for status, n in rest.statuses.items():
        statuses[status] = statuses.get(status, 0) + n
    bench.progress.say("soak: counting the orders' events on Kafka")
    delivered = await events_delivered(bench.stack, list(bench.orders.placed), wait=300)
    growth = {name: round(at_end[name] / after_first[name], 3) for name in after_first}
    return {
        "orders": config.soak,
        "first_sample_after": first_n,
        "statuses": statuses,
        "all_confirmed": statuses == {"CONFIRMED": config.soak},
        "events": delivered,
        "all_events_on_kafka": delivered["unpublished"] == 0
        and delivered["on_topics"] == delivered["in_event_store"],
        "rss_mib_after_first": {k: round(v / 2**20, 1) for k, v in after_first.items()},
        "rss_mib_at_end": {k: round(v / 2**20, 1) for k, v in at_end.items()},
        "growth_ratio": growth,
        "growth_within_limit": all(g <= GROWTH_LIMIT for g in growth.values()),
        "target": f"each ratio <= {GROWTH_LIMIT:.2f}",
    }


def write_soak(config: BenchConfig, result: dict[str, Any]) -> None:
    config.out_dir.mkdir(parents=True, exist_ok=True)
    (config.out_dir / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = ["| process | RSS MiB after first | at end | ratio |", "|---|---|---|---|"]
    rows += [
        f"| {name} | {result['rss_mib_after_first'][name]} | {result['rss_mib_at_end'][name]}"
        f" | {ratio} |"
        for name, ratio in sorted(result["growth_ratio"].items())
    ]
    events = result["events"]
    text = [
        f"Soak: {result['orders']} orders; RSS after the first {result['first_sample_after']}"
        f" vs at the end (target: {result['target']}).",
        "",
        *rows,
        "",
        f"Outcomes: {result['statuses']} (all CONFIRMED: {result['all_confirmed']}). Kafka:"
        f" {events['on_topics']} of {events['in_event_store']} events on the topics,"
        f" {events['unpublished']} unpublished.",
        "",
    ]
    (config.out_dir / "soak.md").write_text("\n".join(text))
