"""CPU seconds spent by a set of processes over a measured phase, per order.

User + system time (psutil) of each process and its children, and, on request, split by
thread name: the Temporal SDK's Rust core runs on threads of its own, which a Python
profiler cannot see.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil


def _cpu(pid: int) -> float:
    """User + system seconds of ``pid`` and its children."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _threads(pid: int) -> dict[str, float]:
    """CPU seconds by thread name (``/proc/<pid>/task/<tid>/comm``) of one process."""
    by_name: dict[str, float] = {}
    try:
        threads = psutil.Process(pid).threads()
    except psutil.Error:
        return by_name
    for thread in threads:
        try:
            name = Path(f"/proc/{pid}/task/{thread.id}/comm").read_text().strip()
        except OSError:
            name = "?"
        # Numbered pool threads ("tokio-runtime-w", "asyncio_3") are one group.
        name = name.rstrip("0123456789_-") or name
        by_name[name] = by_name.get(name, 0.0) + thread.user_time + thread.system_time
    return by_name


@dataclass
class Meter:
    pids: dict[str, int]
    threads: bool = False
    _before: dict[str, float] = field(default_factory=dict)
    _before_threads: dict[str, dict[str, float]] = field(default_factory=dict)
    _started: float = 0.0

    def start(self) -> None:
        self._before = {name: _cpu(pid) for name, pid in self.pids.items()}
        if self.threads:
            self._before_threads = {name: _threads(pid) for name, pid in self.pids.items()}
        self._started = time.monotonic()

    def per_order(self, count: int) -> dict[str, float]:
        """CPU milliseconds per order (per second when ``count`` is seconds) since start."""
        return {
            name: round((_cpu(pid) - self._before[name]) / count * 1000, 2)
            for name, pid in self.pids.items()
        }

    def stop(self, count: int) -> dict[str, object]:
        seconds = time.monotonic() - self._started
        per_order = self.per_order(count)
        result: dict[str, object] = {
            "orders": count,
            "seconds": round(seconds, 1),
            "cpu_ms_per_order": per_order,
            "workers_ms_per_order": round(
                sum(v for k, v in per_order.items() if k.startswith("worker-")), 2
            ),
        }
        if self.threads:
            split = {}
            for name, pid in self.pids.items():
                before = self._before_threads[name]
                spent = {t: cpu - before.get(t, 0.0) for t, cpu in _threads(pid).items()}
                split[name] = {
                    thread: round(cpu / count * 1000, 2)
                    for thread, cpu in sorted(spent.items(), key=lambda kv: -kv[1])[:6]
                    if cpu > 0
                }
            result["thread_cpu_ms_per_order"] = split
        return result
