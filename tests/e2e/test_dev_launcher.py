"""The README's run command brings up the whole system and stops all of it on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from devstack.process import free_port, port_open

ROOT = Path(__file__).resolve().parents[2]


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} within {timeout}s; output:\n{''.join(seen)}")


def _place_and_confirm(base: str, headers: dict[str, str]) -> None:
    placed = httpx.post(
        f"{base}/orders",
        json={
            "items": [{"product_id": "sku-ceramic-mug", "quantity": 1}],
            "payment": {"method": "card", "token": "tok_visa"},
        },
        headers=headers,
        timeout=10,
    )
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    status = ""
    for _ in range(240):
        status = httpx.get(f"{base}/orders/{order_id}", headers=headers, timeout=10).json()[
            "status"
        ]
        if status == "CONFIRMED":
            break
        time.sleep(0.25)
    assert status == "CONFIRMED"


def test_dev_command_serves_ui_docs_and_confirms_an_order_then_stops_cleanly(
    tmp_path: Path,
) -> None:
    """Embedded mode (Temporal dev server + SQLite): every printed address answers, an order
    placed with the printed token is confirmed, a worker killed with SIGKILL comes back by
    itself and the next order is confirmed too, and Ctrl-C stops everything."""
    api, temporal, ui = free_port(), free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ORDERS_") and k not in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tools.dev",
            "--run-dir",
            str(tmp_path / "run"),
            "--api-port",
            str(api),
            "--temporal-port",
            str(temporal),
            "--ui-port",
            str(ui),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = _read_until(proc, "Ctrl-C stops everything", timeout=180)
        token = re.search(r"customer token: (\S+)", banner)
        assert token is not None, banner
        assert f"http://127.0.0.1:{ui}" in banner
        assert httpx.get(f"http://127.0.0.1:{ui}/", timeout=10).status_code == 200
        base = f"http://127.0.0.1:{api}"
        assert re.search(rf"^  Temporal +127\.0\.0\.1:{temporal}$", banner, re.M), banner
        assert "database" in banner
        assert httpx.get(f"{base}/docs", timeout=10).status_code == 200
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        _place_and_confirm(base, headers)

        (worker,) = [
            child for child in psutil.Process(proc.pid).children() if "workers" in child.cmdline()
        ]
        worker.kill()
        restarted = _read_until(proc, "restarted (restart #1)", timeout=60)
        assert "killed by SIGKILL" in restarted, restarted
        _place_and_confirm(base, headers)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    for port in (api, temporal, ui):
        assert not port_open(port), f"port {port} still open after Ctrl-C"
