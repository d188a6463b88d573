"""The benchmark harness still runs end to end (a few orders; figures are not judged here)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

RATIOS = {
    "throughput_product_over_limit",
    "server_cpu_per_order_over_limit",
    "worker_cpu_per_order_over_limit",
    "latency_p50_product_over_limit",
    "payments_two_over_one_worker",
    "post_p99_ms_at_half_peak",
    "post_p50_ms_at_half_peak",
    "actions_per_order",
    "history_events_per_order",
    "history_bytes_per_order",
}


def numbers(value: Any) -> Iterator[float]:
    if isinstance(value, dict):
        for inner in value.values():
            yield from numbers(inner)
    else:
        yield float(value)


def test_benchmark_smoke_run_reports_every_ratio_and_delivers_every_event(
    tmp_path: Path,
) -> None:
    """`python -m bench --smoke` brings up the production-shaped stack, runs interleaved
    rounds, shows its progress and writes its figures, table and picture."""
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "smoke.json").read_text())
    ratios = report["ratios"]
    assert set(ratios) == RATIOS
    assert all(math.isfinite(n) and n > 0 for n in numbers(ratios)), ratios
    # Our saga costs at least the bare one's actions: a start and three activities.
    assert ratios["actions_per_order"]["limit"] == 4
    assert ratios["actions_per_order"]["product"] >= 4
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    assert {v["key"] for v in report["verdicts"]} <= RATIOS
    for rnd in report["rounds"]:
        assert rnd["product"]["statuses"] == {"CONFIRMED": 6}
        assert rnd["cpu_seconds"]["product"]["temporal"] > 0
    assert report["open_loop"]["statuses"] == {"CONFIRMED": report["open_loop"]["orders"]}
    events = report["events"]
    assert events["unpublished"] == 0
    assert events["on_topics"] == events["in_event_store"] > 0
    assert {"api", "temporal", "postgres", "kafka", "outbox-relay"} <= set(report["peak_rss_mib"])
    table = (tmp_path / "smoke.md").read_text()
    assert table.startswith("Run ")
    assert "## Gates and aims" in table
    assert (tmp_path / "smoke.png").read_bytes().startswith(b"\x89PNG")
    # Progress on stderr: the phases with their round and counts, and the stack's addresses.
    assert "limit, round 1/2: 6/6 orders" in done.stderr
    assert "product, round 2/2: 6/6 orders" in done.stderr
    assert "  API: http://127.0.0.1:" in done.stderr
