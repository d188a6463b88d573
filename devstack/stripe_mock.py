"""stripe-mock (Stripe's own mock of its API, built from its Go module) on a free port.

It answers every request that fits Stripe's OpenAPI schema with a fixture and refuses the
others: it proves request shapes, never outcomes (it keeps no state).
"""

from __future__ import annotations

from pathlib import Path

from devstack.go_servers import binary
from devstack.process import ManagedProcess, free_port, port_open, wait_until

__all__ = ["start_stripe_mock"]

START_TIMEOUT_SECONDS = 30.0


def start_stripe_mock(log_path: Path, port: int | None = None) -> tuple[ManagedProcess, str]:
    """Start stripe-mock on 127.0.0.1; returns the process and its base URL."""
    port = port or free_port()
    process = ManagedProcess(
        "stripe-mock",
        [str(binary("stripe-mock")), "-http-addr", f"127.0.0.1:{port}"],
        log_path,
    ).start()

    def ready() -> bool:
        process.check_alive()
        return port_open(port)

    try:
        wait_until(ready, START_TIMEOUT_SECONDS, f"stripe-mock on port {port}")
    except Exception:
        process.stop()
        raise
    url = f"http://127.0.0.1:{port}"
    print(f"stripe-mock: {url} (log {log_path})", flush=True)
    return process, url
