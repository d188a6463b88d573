"""A real Jaeger v2 on loopback: OTLP in, traces kept in memory, the query API out.

Jaeger v2 is an OpenTelemetry Collector distribution; it is built from its Go module by
``devstack.go_servers`` and started here with a config of our own on free ports (with no
config it would take the fixed 4317/4318/16686). The query API answers on
``query_url`` (``/api/services``, ``/api/traces?service=…``, ``/api/traces/<id>``); the
UI's assets are not in the module, so its page there is a placeholder.

Command line (``make dev ARGS=--tracing`` starts it through the stack)::

    python -m devstack.jaeger --run-dir .run/jaeger
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import httpx

from devstack import go_servers
from devstack.process import ManagedProcess, ManagedService, ServiceUnavailableError, free_port
from devstack.supervisor import StopRequest

READY_TIMEOUT = 60.0
MAX_TRACES = 100_000


class Jaeger(ManagedService):
    """One Jaeger process; its ports are chosen once and kept across restarts."""

    def __init__(self, run_dir: Path, query_port: int | None = None) -> None:
        self.run_dir = run_dir.resolve()
        self.otlp_http_port = free_port()
        self.otlp_grpc_port = free_port()
        self.query_port = query_port or free_port()
        self.query_grpc_port = free_port()
        self.health_port = free_port()
        self.config_path = self.run_dir / "jaeger.yaml"
        self.log_path = self.run_dir / "jaeger.log"

    @property
    def otlp_endpoint(self) -> str:
        """For ``OTEL_EXPORTER_OTLP_ENDPOINT`` (OTLP over HTTP; ``/v1/traces`` is appended)."""
        return f"http://127.0.0.1:{self.otlp_http_port}"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query_port}"

    def exporter_env(self) -> dict[str, str]:
        """What a process needs to send its spans here."""
        return {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }

    def config(self) -> dict[str, Any]:
        """The collector config: OTLP receiver -> memory store <- jaeger_query."""
        loopback = "127.0.0.1"
        return {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                "pipelines": {
                    "traces": {
                        "receivers": ["otlp"],
                        "processors": ["batch"],
                        "exporters": ["jaeger_storage_exporter"],
                    }
                },
                "telemetry": {
                    "resource": {"service.name": "jaeger"},
                    # Its own metrics would listen on the fixed :8888.
                    "metrics": {"level": "none"},
                    "logs": {"level": "info"},
                },
            },
            "extensions": {
                "healthcheckv2": {
                    "use_v2": True,
                    "http": {"endpoint": f"{loopback}:{self.health_port}"},
                },
                "jaeger_query": {
                    "storage": {"traces": "memstore"},
                    # On by default in v2: it would export its own spans to the fixed :4317.
                    "enable_tracing": False,
                    "http": {"endpoint": f"{loopback}:{self.query_port}"},
                    "grpc": {"endpoint": f"{loopback}:{self.query_grpc_port}"},
                },
                "jaeger_storage": {
                    "backends": {"memstore": {"memory": {"max_traces": MAX_TRACES}}}
                },
            },
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": f"{loopback}:{self.otlp_grpc_port}"},
                        "http": {"endpoint": f"{loopback}:{self.otlp_http_port}"},
                    }
                }
            },
            "processors": {"batch": {"timeout": "200ms"}},
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
        }

    def start(self, timeout: float = READY_TIMEOUT) -> Jaeger:
        if self.alive():
            return self
        # Waits for a build already under way (file lock) or builds it (minutes, once).
        binary = go_servers.binary("jaeger")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: no YAML writer needed for a config we generate.
        self.config_path.write_text(json.dumps(self.config(), indent=2) + "\n")
        self._launch(
            ManagedProcess(
                "jaeger",
                [str(binary), "--config", str(self.config_path)],
                self.log_path,
                cwd=self.run_dir,
            )
        )
        try:
            self._wait_ready(self._ready, timeout, f"Jaeger (log: {self.log_path})")
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> Jaeger:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _ready(self) -> bool:
        try:
            services = httpx.get(f"{self.query_url}/api/services", timeout=1)
            otlp = httpx.post(
                f"{self.otlp_endpoint}/v1/traces",
                content=b"{}",
                headers={"Content-Type": "application/json"},
                timeout=1,
            )
        except httpx.HTTPError:
            return False
        return services.status_code == 200 and otlp.status_code == 200

    # -- reading traces ---------------------------------------------------------------------

    def traces(self, service: str, limit: int = 100, lookback: str = "1h") -> list[dict[str, Any]]:
        """Traces holding a span of ``service``, each in Jaeger's JSON (spans, processes)."""
        response = httpx.get(
            f"{self.query_url}/api/traces",
            params={"service": service, "limit": limit, "lookback": lookback},
            timeout=10,
        )
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        response = httpx.get(f"{self.query_url}/api/traces/{trace_id}", timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data: list[dict[str, Any]] = response.json()["data"]
        return data[0] if data else None

    def services(self) -> list[str]:
        response = httpx.get(f"{self.query_url}/api/services", timeout=10)
        response.raise_for_status()
        return list(response.json()["data"] or [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, default=Path(".run/jaeger"))
    parser.add_argument("--query-port", type=int, default=None)
    args = parser.parse_args()
    jaeger = Jaeger(args.run_dir, query_port=args.query_port)
    stop = StopRequest()
    print("starting Jaeger (building it first if needed) …", flush=True)
    try:
        jaeger.start()
    except ServiceUnavailableError as exc:
        raise SystemExit(str(exc)) from exc
    print(
        f"Jaeger query API {jaeger.query_url}/api/traces?service=order-api\n"
        f"export with      OTEL_EXPORTER_OTLP_ENDPOINT={jaeger.otlp_endpoint}\n"
        "Ctrl-C stops it.",
        flush=True,
    )
    try:
        stop.wait_until_requested(lambda: jaeger.pid is not None)
    finally:
        jaeger.stop()


if __name__ == "__main__":
    main()
