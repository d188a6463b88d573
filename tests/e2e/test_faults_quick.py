"""`make faults ARGS=--quick` runs inside the suite: every fault once, a few orders each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from faults.plan import FAULTS

ROOT = Path(__file__).resolve().parents[2]


# The quick run's budget is ten minutes; the suite's default timeout is shorter.
@pytest.mark.timeout(660)
def test_quick_fault_run_loses_nothing_and_every_fault_meets_its_expectation(
    tmp_path: Path,
) -> None:
    """Each fault of the plan is injected under load; the run exits 0 only when no order or
    event was lost, none charged twice, none stuck and every state was the expected one."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "faults",
            "--quick",
            "--docs",
            str(tmp_path / "faults.md"),
            "--out-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "faults.json").read_text())
    assert [row["fault"] for row in report["rows"]] == [fault.name for fault in FAULTS]
    for row in report["rows"]:
        assert row["problems"] == [], row
        assert row["accepted"] == row["placed"] > 0, row
        assert row["statuses"] == {"CONFIRMED": row["accepted"]}, row
        assert not row["double_charges"], row
        assert row["charges"] == row["accepted"], row
        assert row["events_in_store"] == row["events_on_kafka"] > 0, row
        assert row["recovery_seconds"] is not None, row
    assert report["charges_without_order"] == []
    provider = next(r for r in report["rows"] if r["fault"].startswith("payment provider"))
    assert provider["parked_needs_attention"] > 0
    assert (tmp_path / "faults-recovery.png").stat().st_size > 0
    assert "| kill-9 api mid-POST |" in (tmp_path / "faults.md").read_text()
