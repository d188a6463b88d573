"""stripe-mock (Stripe's own mock of its API, built from its Go module) on a free port.

It answers every request that fits Stripe's OpenAPI schema with a fixture and refuses the
others: it proves request shapes, never outcomes (it keeps no state).
"""

from __future__ import annotations

from pathlib import Path

from devstack.go_servers import binary
from devstack.process import ManagedProcess, ManagedService, free_port, port_open

__all__ = ["StripeMock"]

START_TIMEOUT_SECONDS = 30.0


class StripeMock(ManagedService):
    """stripe-mock on 127.0.0.1, its log in ``log_path``."""

    def __init__(self, log_path: Path, port: int | None = None) -> None:
        self.log_path = log_path
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> StripeMock:
        args = [str(binary("stripe-mock")), "-http-addr", f"127.0.0.1:{self.port}"]
        self._launch(ManagedProcess("stripe-mock", args, self.log_path))
        try:
            self._wait_ready(lambda: port_open(self.port), timeout, f"stripe-mock on {self.url}")
        except Exception:
            self.stop()
            raise
        print(f"stripe-mock: {self.url} (log {self.log_path})", flush=True)
        return self
