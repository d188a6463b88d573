"""Every foreground command stops on SIGINT/SIGTERM through one ``StopRequest``."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from devstack.supervisor import StopRequest


@pytest.fixture
def stop() -> Iterator[StopRequest]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield StopRequest()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_a_signal_ends_the_wait_at_once(stop: StopRequest) -> None:
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGTERM))
    started = time.monotonic()
    timer.start()
    assert stop.wait_until_requested(interval=30.0) is True
    assert time.monotonic() - started < 5.0
    assert stop.requested


def test_the_wait_ends_when_the_watched_thing_has_ended(stop: StopRequest) -> None:
    answers = iter([True, True, False])
    assert stop.wait_until_requested(lambda: next(answers), interval=0.01) is False
    assert not stop.requested
