"""The dev stack's supervisor starts dead children again, backing off when they keep dying."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from devstack.process import ManagedProcess
from devstack.supervisor import RestartPolicy, Supervisor

QUICK = RestartPolicy(initial_backoff=0.05, max_backoff=0.2, stable_after=60.0)


def _scheduled_wait(message: str, exit_text: str) -> float:
    prefix = f"{exit_text}; restarting in "
    assert message.startswith(prefix), message
    assert message.endswith(" s"), message
    return float(message[len(prefix) : -2])


def _poll_until(supervisor: Supervisor, done: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.poll()
        if callable(done) and done():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def test_a_child_killed_with_sigkill_is_started_again_and_counted(tmp_path: Path) -> None:
    """kill -9 of a child → logged with the signal, restarted, restart count 1, new pid."""
    said: list[str] = []
    child = ManagedProcess(
        "worker-payments",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        tmp_path / "worker.log",
    ).start()
    try:
        supervisor = Supervisor(said.append, QUICK)
        supervisor.watch("worker-payments", child, child.describe_exit)
        first_pid = child.pid
        supervisor.poll()
        assert said == []  # alive: nothing to do

        os.kill(first_pid, signal.SIGKILL)
        child.wait(timeout=5)
        _poll_until(supervisor, lambda: supervisor.restarts()["worker-payments"] == 1)

        assert child.alive()
        assert child.pid != first_pid
        assert said[0] == "worker-payments killed by SIGKILL; restarting in 0.05 s"
        assert said[1] == "worker-payments restarted (restart #1)"
    finally:
        child.stop()


def test_a_child_that_keeps_dying_is_restarted_with_growing_backoff(tmp_path: Path) -> None:
    """A crash loop doubles the wait between starts up to the cap, instead of spinning."""
    said: list[str] = []
    child = ManagedProcess(
        "relay", [sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "relay.log"
    ).start()
    child.wait(timeout=10)
    now = [0.0]
    supervisor = Supervisor(said.append, QUICK, clock=lambda: now[0])
    supervisor.watch("relay", child, child.describe_exit)

    waits = []
    for _ in range(4):
        supervisor.poll()  # notices the exit and schedules the restart
        waits.append(_scheduled_wait(said[-1], "relay exited with 3"))
        now[0] += waits[-1] - 0.001
        supervisor.poll()  # not due yet
        assert not child.alive()
        now[0] += 0.001
        supervisor.poll()  # due: starts it again
        child.wait(timeout=10)

    assert waits == [0.05, 0.1, 0.2, 0.2]
    assert supervisor.restarts() == {"relay": 4}


def test_a_child_that_stayed_up_long_starts_over_at_the_shortest_backoff(tmp_path: Path) -> None:
    """After ``stable_after`` seconds of life, a death is a new incident: shortest backoff."""
    said: list[str] = []
    child = ManagedProcess(
        "api", [sys.executable, "-c", "raise SystemExit(1)"], tmp_path / "api.log"
    ).start()
    child.wait(timeout=10)
    now = [0.0]
    supervisor = Supervisor(said.append, QUICK, clock=lambda: now[0])
    supervisor.watch("api", child, child.describe_exit)
    for _ in range(3):  # grow the backoff to its cap
        supervisor.poll()
        now[0] += _scheduled_wait(said[-1], "api exited with 1")
        supervisor.poll()
        child.wait(timeout=10)
    supervisor.poll()
    assert _scheduled_wait(said[-1], "api exited with 1") == 0.2
    now[0] += 0.2
    supervisor.poll()
    child.wait(timeout=10)

    now[0] += QUICK.stable_after  # it "stayed up" for a minute before this death
    supervisor.poll()
    assert _scheduled_wait(said[-1], "api exited with 1") == 0.05
