"""``python -m tools.trace``: one order's trace as a tree, read from Jaeger's query API.

Jaeger built from its Go module has no UI assets, so this is the way to look at a trace
here::

    python -m tools.trace --jaeger http://127.0.0.1:16686 --order 5838…
    python -m tools.trace --jaeger http://127.0.0.1:16686 d90512f97f4fe299940459b1bcf9d9dd

Each line: service, span name, duration, offset from the trace's start; the SQL
statements under a span are summed up in one line unless ``--sql`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx

SQL_TAGS = ("db.system", "db.system.name")


def find_order_trace(jaeger: str, order_id: str) -> str | None:
    """The trace that ran the order's saga (its workflow id is ``order-<id>``)."""
    response = httpx.get(
        f"{jaeger}/api/traces",
        params={
            "service": "order-worker-orders",
            "operation": "RunWorkflow:OrderSaga",
            "tags": json.dumps({"temporalWorkflowID": f"order-{order_id}"}),
            "lookback": "24h",
            "limit": 5,
        },
        timeout=10,
    )
    response.raise_for_status()
    found = response.json()["data"] or []
    return str(found[0]["traceID"]) if found else None


def fetch_trace(jaeger: str, trace_id: str) -> dict[str, Any]:
    response = httpx.get(f"{jaeger}/api/traces/{trace_id}", timeout=10)
    response.raise_for_status()
    data: list[dict[str, Any]] = response.json()["data"]
    return data[0]


def _is_sql(span: dict[str, Any]) -> bool:
    return any(tag["key"] in SQL_TAGS for tag in span["tags"])


def render(trace: dict[str, Any], *, show_sql: bool = False) -> Iterator[str]:
    spans = trace["spans"]
    services = {key: value["serviceName"] for key, value in trace["processes"].items()}
    ids = {span["spanID"] for span in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parents = [r["spanID"] for r in span["references"] if r["refType"] == "CHILD_OF"]
        parent = parents[0] if parents and parents[0] in ids else None
        children.setdefault(parent, []).append(span)
    start = min(span["startTime"] for span in spans)
    width = max(len(name) for name in services.values())

    def walk(parent: str | None, depth: int) -> Iterator[str]:
        kids = sorted(children.get(parent, []), key=lambda span: span["startTime"])
        sql = [span for span in kids if _is_sql(span)]
        if sql and not show_sql:
            service = services[sql[0]["processID"]]
            total = sum(span["duration"] for span in sql) / 1000
            yield f"{service:<{width}}  {'  ' * depth}({len(sql)} SQL statements, {total:.1f} ms)"
        for span in kids:
            if span in sql and not show_sql:
                continue
            service = services[span["processID"]]
            took, offset = span["duration"] / 1000, (span["startTime"] - start) / 1000
            yield (
                f"{service:<{width}}  {'  ' * depth}{span['operationName']}"
                f"  {took:.1f} ms  (+{offset:.0f} ms)"
            )
            yield from walk(span["spanID"], depth + 1)

    used = {services[span["processID"]] for span in spans}
    yield f"trace {trace['traceID']}: {len(spans)} spans from {len(used)} services"
    yield from walk(None, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.trace", description=__doc__)
    parser.add_argument("trace_id", nargs="?", help="a trace id (or use --order)")
    parser.add_argument("--order", help="find the trace of this order id")
    parser.add_argument("--jaeger", default="http://127.0.0.1:16686", help="query API URL")
    parser.add_argument("--sql", action="store_true", help="list every SQL statement")
    args = parser.parse_args(argv)
    trace_id = args.trace_id
    if args.order:
        trace_id = find_order_trace(args.jaeger, args.order)
        if trace_id is None:
            print(f"no trace of order {args.order} in {args.jaeger}", file=sys.stderr)
            return 1
    if not trace_id:
        parser.error("give a trace id or --order")
    for line in render(fetch_trace(args.jaeger, trace_id), show_sql=args.sql):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
