"""Keeps a dev stack's children running: one that dies unexpectedly is started again.

``make dev`` should behave like the compose file's ``restart: unless-stopped``: a worker
killed with ``kill -9`` comes back by itself and the orders it had in flight finish, while
the rest of the stack never stops. Restarts back off (1 s, 2 s, 4 s … up to 30 s) so a
child that cannot start does not spin; a child that stayed up for a minute starts over at
the shortest backoff. Stopping on Ctrl-C is the stack's own business: the supervisor only
watches while it is polled.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


def say(message: str) -> None:
    """What a launcher prints about its children: one timestamped line each."""
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", flush=True)


class Restartable(Protocol):
    def alive(self) -> bool: ...

    def start(self) -> object: ...


@dataclass(frozen=True)
class RestartPolicy:
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    # Up this long without dying: the next death is a new incident, not a crash loop.
    stable_after: float = 60.0


@dataclass
class _Watched:
    unit: Restartable
    describe_exit: Callable[[], str]
    started_at: float
    restarts: int = 0
    backoff: float = 0.0
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Polled from the launcher's loop; reports what it does through ``say``."""

    say: Callable[[str], None]
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    clock: Callable[[], float] = time.monotonic
    _watched: dict[str, _Watched] = field(default_factory=dict)

    def watch(
        self, name: str, unit: Restartable, describe_exit: Callable[[], str] = lambda: "exited"
    ) -> None:
        self._watched[name] = _Watched(unit, describe_exit, started_at=self.clock())

    def forget(self, name: str) -> None:
        self._watched.pop(name, None)

    def restarts(self) -> dict[str, int]:
        return {name: watched.restarts for name, watched in self._watched.items()}

    def poll(self) -> None:
        now = self.clock()
        for name, watched in self._watched.items():
            if watched.restart_at is None:
                if watched.unit.alive():
                    continue
                self._schedule(name, watched, now)
            if watched.restart_at is not None and now >= watched.restart_at:
                self._restart(name, watched)

    def _schedule(self, name: str, watched: _Watched, now: float) -> None:
        if now - watched.started_at >= self.policy.stable_after:
            watched.backoff = 0.0
        watched.backoff = min(
            self.policy.max_backoff, max(self.policy.initial_backoff, watched.backoff * 2)
        )
        watched.restart_at = now + watched.backoff
        self.say(f"{name} {watched.describe_exit()}; restarting in {watched.backoff:g} s")

    def _restart(self, name: str, watched: _Watched) -> None:
        watched.restart_at = None
        watched.restarts += 1
        try:
            watched.unit.start()
        except Exception as exc:  # any failure to start is retried with backoff
            self.say(f"{name} failed to start ({exc}); will retry")
            watched.started_at = self.clock()
            return
        watched.started_at = self.clock()
        self.say(f"{name} restarted (restart #{watched.restarts})")


class StopRequest:
    """Set by SIGINT or SIGTERM, so a launcher stops its stack in order instead of dying
    mid-start; installed before anything starts, so Ctrl-C during start-up counts too.
    Every foreground command (``python -m devstack.*``, ``tools.tail_events``) waits on one."""

    def __init__(self) -> None:
        # An event rather than a flag: a wait on it ends the moment the signal arrives.
        self._event = threading.Event()
        signal.signal(signal.SIGINT, self._set)
        signal.signal(signal.SIGTERM, self._set)

    def _set(self, *_: object) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait_until_requested(
        self, still_running: Callable[[], bool] | None = None, interval: float = 0.5
    ) -> bool:
        """Block until a stop is requested (True) or ``still_running``, asked every
        ``interval`` seconds, says the thing watched has ended (False)."""
        while not self._event.wait(interval):
            if still_running is not None and not still_running():
                return False
        return True

    def supervise_until_requested(self, supervisor: Supervisor, interval: float = 0.5) -> None:
        while not self.requested:
            supervisor.poll()
            self._event.wait(interval)
