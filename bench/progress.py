"""What the run is doing, on stderr every couple of seconds: a long run must not look hung."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, interval: float = 2.0) -> None:
        self._stream = stream or sys.stderr
        self._interval = interval
        self._started = time.monotonic()

    def say(self, text: str) -> None:
        elapsed = time.monotonic() - self._started
        print(f"[bench {elapsed:6.1f}s] {text}", file=self._stream, flush=True)

    @contextlib.asynccontextmanager
    async def counting(
        self, label: str, done: Callable[[], int], total: int
    ) -> AsyncIterator[None]:
        """Reports ``done()`` of ``total`` orders and the rate while the body runs."""
        started = time.monotonic()
        self.say(f"{label}: 0/{total} orders")

        async def report() -> None:
            last, last_at = 0, started
            while True:
                await asyncio.sleep(self._interval)
                now, count = time.monotonic(), done()
                recent = (count - last) / (now - last_at) if now > last_at else 0.0
                overall = count / (now - started)
                self.say(
                    f"{label}: {count}/{total} orders, {recent:.1f}/s now, {overall:.1f}/s so far"
                )
                last, last_at = count, now

        reporter = asyncio.create_task(report())
        try:
            yield
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            seconds = time.monotonic() - started
            count = done()
            rate = count / seconds if seconds else 0.0
            self.say(f"{label}: {count}/{total} orders in {seconds:.1f} s ({rate:.1f}/s)")
