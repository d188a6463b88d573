"""A child process that belongs to us: started with its log in a file, stopped for sure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class ServiceUnavailableError(RuntimeError):
    """A service could not be started here; the message says how to get it."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise ServiceUnavailableError(f"{what} not ready after {timeout:.0f}s")


class ManagedProcess:
    """Runs a command in its own process group so stopping it also stops its children."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self._proc = subprocess.Popen(
                self.args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})},
                cwd=self.cwd,
                start_new_session=True,
            )
        finally:
            log.close()
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None, f"{self.name} not started"
        return self._proc.pid

    def wait(self, timeout: float | None = None) -> int:
        assert self._proc is not None, f"{self.name} not started"
        return self._proc.wait(timeout=timeout)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def describe_exit(self) -> str:
        """How the process ended, for people: ``exited with 1``, ``killed by SIGKILL``."""
        code = self._proc.poll() if self._proc is not None else None
        if code is None:
            return "is running"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exited with {code}"

    def check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            raise ServiceUnavailableError(
                f"{self.name} exited with {self._proc.returncode}; see {self.log_path}:\n"
                + self.log_tail()
            )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing gets to clean up."""
        self.stop(timeout=5.0, sig=signal.SIGKILL)


class ManagedService:
    """A devstack service run as one :class:`ManagedProcess`: what every such service says
    of its process. A subclass starts it with :meth:`_launch` and keeps only what differs
    (its arguments, ports and readiness check)."""

    # Seconds a SIGTERM gets before SIGKILL; a service that drains longer raises it.
    stop_timeout: float = 10.0
    _process: ManagedProcess | None = None

    def _launch(self, process: ManagedProcess) -> ManagedProcess:
        """Start ``process`` as this service's own: the one stopped, killed and checked."""
        self._process = process.start()
        return self._process

    def _wait_ready(
        self, check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
    ) -> None:
        """Wait until ``check`` holds; fail at once, with its log's tail, if the process ends."""

        def ready() -> bool:
            self.check_alive()
            return check()

        wait_until(ready, timeout, what, interval)

    @property
    def pid(self) -> int | None:
        """The process id while it runs; None before the start and after it ended."""
        process = self._process
        return process.pid if process is not None and process.alive() else None

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    def check_alive(self) -> None:
        if self._process is not None:
            self._process.check_alive()

    def stop(self, timeout: float | None = None) -> None:
        if self._process is not None:
            self._process.stop(timeout=self.stop_timeout if timeout is None else timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing gets to clean up."""
        if self._process is not None:
            self._process.kill()
