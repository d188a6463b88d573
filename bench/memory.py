"""Peak resident memory of each process of the stack, sampled in a background thread."""

from __future__ import annotations

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
