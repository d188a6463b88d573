"""Peak resident memory of each process of the stack, sampled in a background thread."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import psutil

Targets = Callable[[], dict[str, int]]


def tree_rss(pid: int) -> int:
    """RSS of a process and its children (PostgreSQL backends, a uvicorn's workers)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total


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
    """User + system CPU seconds of a process and its children so far (this process:
    itself only, since the whole stack is its children)."""
    try:
        root = psutil.Process(pid)
        procs = [root] if pid == os.getpid() else [root, *root.children(recursive=True)]
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
