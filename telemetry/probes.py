"""Liveness and readiness over HTTP for processes that are not web servers (workers, relay).

``GET /healthz`` (live) and ``GET /readyz`` (ready) answer 200 or 503 with the reason in
plain text; a process may add paths of its own (a worker's ``/pollers``). The server runs
in a daemon thread (as prometheus_client's /metrics does), and each check is a coroutine
run on the process's event loop: a loop that is blocked or gone cannot answer within the
timeout, so the process is reported not live -- the failure a liveness probe exists for,
which a server on the loop itself could not see.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import TimeoutError as FutureTimeoutError
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from config.settings import TelemetrySettings

__all__ = ["CachedCheck", "Check", "Health", "ProbeServer", "start_probes"]

log = logging.getLogger(__name__)

# None when healthy, else why not (shown in the probe's answer and logged).
Check = Callable[[], Coroutine[Any, Any, str | None]]


class Health(Protocol):
    """What a process knows of its own health (``WorkerHealth``, ``RelayHealth``)."""

    async def live(self) -> str | None: ...

    async def ready(self) -> str | None: ...


class CachedCheck:
    """A check that asks what it checks (a broker, the Temporal server) at most once every
    ``seconds``: every probe asks every few seconds, and its answers need not be fresher."""

    def __init__(self, check: Check, seconds: float) -> None:
        self._check = check
        self._seconds = seconds
        self._cached: tuple[float, str | None] | None = None

    async def __call__(self) -> str | None:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self._seconds:
            return self._cached[1]
        problem = await self._check()
        self._cached = (now, problem)
        return problem


class ProbeServer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        live: Check,
        ready: Check,
        loop: asyncio.AbstractEventLoop,
        timeout_seconds: float = 5.0,
        extra: Mapping[str, Check] | None = None,
    ) -> None:
        self._checks = {"/healthz": live, "/livez": live, "/readyz": ready, **(extra or {})}
        self._loop = loop
        self._timeout = timeout_seconds
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="probes", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> ProbeServer:
        self._thread.start()
        log.info("probes on port %d: %s", self.port, ", ".join(self._checks))
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str) -> tuple[int, str]:
        check = self._checks.get(path)
        if check is None:
            return 404, "not found"
        problem: str | None
        try:
            problem = asyncio.run_coroutine_threadsafe(check(), self._loop).result(self._timeout)
        except (FutureTimeoutError, TimeoutError):
            problem = f"no answer from the event loop within {self._timeout:.0f}s"
        except RuntimeError as exc:  # the loop is closed
            problem = f"event loop gone: {exc}"
        except Exception as exc:  # a check that fails is a failed check, not a crash
            problem = f"check failed: {exc!r}"
        if problem is None:
            return 200, "ok"
        log.warning("%s: %s", path, problem)
        return 503, problem

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        answer = self._answer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, text = answer(self.path.split("?", 1)[0])
                body = (text + "\n").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # every probe would be a log line; failures are logged above

        return Handler


def start_probes(
    telemetry: TelemetrySettings,
    health: Health,
    loop: asyncio.AbstractEventLoop,
    *,
    extra: Mapping[str, Check] | None = None,
) -> ProbeServer | None:
    """The probe server for ``health`` (and the ``extra`` paths) when a probe port is set,
    else None (probes off)."""
    if not telemetry.probe_port:
        return None
    return ProbeServer(
        telemetry.probe_host,
        telemetry.probe_port,
        live=health.live,
        ready=health.ready,
        loop=loop,
        extra=extra,
    ).start()
