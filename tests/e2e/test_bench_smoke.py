"""The benchmark harness still runs end to end (a few orders; figures are not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_smoke_run_reports_every_ratio_and_delivers_every_event(
    tmp_path: Path,
) -> None:
    """`python -m bench --smoke` brings up the production-shaped stack and writes its report."""
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
    assert set(report["ratios"]) == {
        "throughput_product_over_limit",
        "latency_p50_product_over_limit",
        "payments_two_over_one_worker",
    }
    assert all(value > 0 for value in report["ratios"].values())
    assert report["phases"]["product"]["statuses"] == {"CONFIRMED": 6}
    events = report["events"]
    assert events["unpublished"] == 0
    assert events["on_topics"] == events["in_event_store"] > 0
    assert {"api", "temporal", "postgres", "kafka", "outbox-relay"} <= set(report["peak_rss_mib"])
    assert (tmp_path / "smoke.md").read_text().startswith("Run ")
