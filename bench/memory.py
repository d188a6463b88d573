"""Peak resident memory of each process of the stack, sampled in a background thread."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import psutil

Targets = Callable[[], dict[str, int]]


def _tree_total(pid: int, measure: Callable[[psutil.Process], float]) -> float:
    """``measure`` summed over a process and its children (PostgreSQL backends, uvicorn's
    workers); for this process itself only, since the whole stack is its children."""
    try:
        root = psutil.Process(pid)
        procs = [root] if pid == os.getpid() else [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            total += measure(proc)
        except psutil.Error:
            continue  # the process ended between listing and measuring it
    return total


def tree_rss(pid: int) -> int:
    return int(_tree_total(pid, lambda proc: proc.memory_info().rss))


class PeakRss:
    def __init__(self, targets: Targets, interval: float = 0.5) -> None:
        self._targets = targets
        self._interval = interval
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> dict[str, int]:
        current = {name: tree_rss(pid) for name, pid in self._targets().items()}
        for name, rss in current.items():
            self.peaks[name] = max(self.peaks.get(name, 0), rss)
        return current

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far."""

    def cpu(proc: psutil.Process) -> float:
        times = proc.cpu_times()
        return float(times.user + times.system)

    return _tree_total(pid, cpu)


class CpuMeter:
    """CPU seconds each process of the stack spends between ``start()`` and ``stop()``."""

    def __init__(self, targets: Targets) -> None:
        self._targets = targets
        self._before: dict[str, float] = {}

    def _all(self) -> dict[str, float]:
        targets = {**self._targets(), "load-generator": os.getpid()}
        return {name: tree_cpu_seconds(pid) for name, pid in targets.items()}

    def start(self) -> None:
        self._before = self._all()

    def stop(self) -> dict[str, float]:
        after = self._all()
        return {
            name: round(after[name] - self._before.get(name, 0.0), 2)
            for name in after
            if name in self._before
        }
