"""The whole system as processes on this machine: what ``make dev`` and the benchmark run.

Temporal, optionally PostgreSQL and Kafka, then migrations and the dev catalog, then the
API, the workers (one process per group of queues) and the outbox relay — each a real
child process with its own log under the run directory.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from devstack.codec_keys import codec_env
from devstack.jaeger import Jaeger
from devstack.jwks_issuer import JwksIssuer
from devstack.kafka import KafkaBroker
from devstack.kafka_cluster import REPLICATION, KafkaCluster
from devstack.payment_provider import PaymentProviderService, provider_token_env
from devstack.postgres import PostgresCluster
from devstack.process import ManagedProcess, free_port, port_open, wait_until
from devstack.stack_options import StackOptions
from devstack.supervisor import Supervisor
from devstack.temporal import TemporalDevServer

__all__ = ["Stack", "StackOptions", "listen_port"]


class Stack:
    def __init__(self, options: StackOptions) -> None:
        # Port 0 means "any free port", so a benchmark can run beside a `make dev`.
        if options.api_port == 0:
            options.api_port = free_port()
        self.options = options
        self.env: dict[str, str] = dict(options.extra_env)
        self.provider: PaymentProviderService | None = None
        self.issuer: JwksIssuer | None = None
        self.temporal: TemporalDevServer | None = None
        self.postgres: PostgresCluster | None = None
        self.kafka: KafkaBroker | KafkaCluster | None = None
        self.jaeger: Jaeger | None = None
        self.processes: dict[str, ManagedProcess] = {}
        # Process name (``<name>-sdk`` for a worker's Temporal SDK metrics) -> its /metrics.
        self.metrics_urls: dict[str, str] = {}
        # A command each child's is started through, by its name (the fault run's: into a
        # cgroup of its own, so a partition can single out its packets).
        self.launcher: Callable[[str], list[str]] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.options.api_port}"

    @property
    def ui_url(self) -> str:
        if self.temporal is not None and self.temporal.ui_url:
            return self.temporal.ui_url
        return f"http://127.0.0.1:{self.options.ui_port}"

    def start_services(self) -> None:
        opts = self.options
        opts.run_dir.mkdir(parents=True, exist_ok=True)
        if opts.temporal_port and port_open(opts.temporal_port):
            # Someone (a previous `make dev`, a local Temporal) already serves this port.
            self.env["ORDERS_TEMPORAL__ADDRESS"] = f"127.0.0.1:{opts.temporal_port}"
        else:
            self.temporal = TemporalDevServer(
                opts.run_dir / "temporal",
                port=opts.temporal_port or None,
                ui_port=opts.ui_port or None,
                # The API serves the codec endpoint; the dev UI (loopback, no login) may use it.
                ui_codec_endpoint=f"{self.api_url}/codec",
                db_filename=opts.run_dir / "temporal" / "temporal.db",
                namespace=opts.namespace,
            ).start()
            self.env["ORDERS_TEMPORAL__ADDRESS"] = self.temporal.address
        if opts.namespace != "default":
            self.env["ORDERS_TEMPORAL__NAMESPACE"] = opts.namespace
        if not opts.postgres and not _configured("DATABASE_URL", "ORDERS_DATABASE__URL"):
            # The embedded default, kept inside this run's folder.
            db_file = (opts.run_dir / "orders.db").absolute()
            self.env["ORDERS_DATABASE__URL"] = f"sqlite+aiosqlite:///{db_file}"
        if opts.postgres:
            # A port of its own from the start, so a restarted server comes back where every
            # child's DATABASE_URL points.
            self.postgres = PostgresCluster(
                opts.run_dir / "postgres",
                port=opts.postgres_port or free_port(),
                durable=opts.postgres_durable,
            )
            self.postgres.start()
            self.postgres.create_database("orders", exist_ok=True)
            self.env["ORDERS_DATABASE__URL"] = self.postgres.url("orders")
        if self.env.get("ORDERS_ENVIRONMENT") == "production" and not _configured(
            "ORDERS_TEMPORAL__CODEC__KEYS"
        ):
            self.env.update(codec_env(opts.run_dir.absolute()))
        if opts.local_issuer:
            self.issuer = JwksIssuer(opts.run_dir / "issuer").start()
            self.env.update(self.issuer.settings_env())
        if opts.kafka and opts.kafka_brokers > 1:
            self.kafka = KafkaCluster(opts.run_dir / "kafka", size=opts.kafka_brokers).start()
            replication = min(REPLICATION, opts.kafka_brokers)
            self.env["ORDERS_KAFKA__REPLICATION_FACTOR"] = str(replication)
        elif opts.kafka:
            self.kafka = KafkaBroker(opts.run_dir / "kafka", port=opts.kafka_port).start()
        if self.kafka is not None:
            self.env["ORDERS_KAFKA__BOOTSTRAP_SERVERS"] = self.kafka.bootstrap_servers
        # After Kafka: the provider reads the same settings, which production checks whole.
        self._start_provider()
        if opts.tracing:
            self.jaeger = Jaeger(opts.run_dir / "jaeger").start()
            self.env.update(self.jaeger.exporter_env())

    def _start_provider(self) -> None:
        """One payment provider service for every worker process, unless the environment
        names a provider (or a ledger file for the in-process simulation); in production
        behind a bearer token, which production's checks require."""
        if any(name in os.environ for name in _PROVIDER_VARIABLES):
            return
        if self.env.get("ORDERS_ENVIRONMENT") == "production":
            self.env.update(provider_token_env())
        self.provider = PaymentProviderService(self.options.run_dir, env=self.child_env()).start()
        self.env["ORDERS_PAYMENTS__PROVIDER_URL"] = self.provider.url

    def prepare_database(self) -> None:
        self._run_once("migrate", [sys.executable, "-m", "persistence.migrate"])
        if self.options.seed:
            self._run_once("seed", [sys.executable, "-m", "persistence.seed"])

    def start_processes(self) -> None:
        opts = self.options
        api_env = {"ORDERS_API__PORT": str(opts.api_port)}
        api_args = [sys.executable, "-m", "api", "--workers", str(opts.api_workers)]
        self.spawn("api", api_args, api_env)
        for group in opts.worker_groups:
            args = [sys.executable, "-m", "workers"]
            for name in group:
                args += ["--queue", name]
            self.spawn(f"worker-{'-'.join(group)}", args, opts.worker_env, sdk_metrics=True)
        if self.kafka is not None or self._kafka_configured():
            self.spawn("outbox-relay", [sys.executable, "-m", "outbox"])
        wait_until(self._api_ready, opts.ready_seconds, f"API on {self.api_url}")

    def start(self) -> Stack:
        self.start_services()
        self.prepare_database()
        self.start_processes()
        return self

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        if self.kafka is not None:
            self.kafka.stop()
        if self.jaeger is not None:
            self.jaeger.stop()
        if self.postgres is not None:
            self.postgres.stop()
        if self.temporal is not None:
            self.temporal.stop()
        if self.provider is not None:
            self.provider.stop()
        if self.issuer is not None:
            self.issuer.stop()

    def supervise(self, say: Callable[[str], None]) -> Supervisor:
        """A supervisor restarting whatever of this stack dies, polled by the launcher."""
        supervisor = Supervisor(say)
        for name, service in (
            ("temporal", self.temporal),
            ("postgres", self.postgres),
            ("kafka", self.kafka),
            ("payment-provider", self.provider),
            ("token issuer", self.issuer),
        ):
            if service is not None:
                supervisor.watch(name, service)
        for name, process in self.processes.items():
            supervisor.watch(name, process, process.describe_exit)
        return supervisor

    def addresses(self) -> dict[str, str]:
        """Every address this stack serves, for people to copy."""
        found = {"API": self.api_url, "API docs": f"{self.api_url}/docs"}
        found["Temporal"] = self.env.get("ORDERS_TEMPORAL__ADDRESS", "")
        found["Temporal UI"] = self.ui_url
        found["payload codec"] = f"{self.api_url}/codec"
        if self.postgres is not None:
            found["PostgreSQL"] = self.postgres.url("orders").replace("+psycopg", "")
        elif "ORDERS_DATABASE__URL" in self.env:
            found["database"] = self.env["ORDERS_DATABASE__URL"]
        if self.kafka is not None:
            found["Kafka"] = self.kafka.bootstrap_servers
        if self.provider is not None:
            found["payment provider"] = self.provider.url
        if self.issuer is not None:
            found["token issuer"] = self.issuer.jwks_url
        if self.jaeger is not None:
            found["Jaeger API"] = f"{self.jaeger.query_url}/api/traces?service=order-api"
        return found

    def child_env(self) -> dict[str, str]:
        return {**self.env, "PYTHONUNBUFFERED": "1"}

    def _kafka_configured(self) -> bool:
        variables = ("KAFKA_BOOTSTRAP_SERVERS", "ORDERS_KAFKA__BOOTSTRAP_SERVERS")
        return _configured(*variables) or any(self.env.get(name) for name in variables)

    def _api_ready(self) -> bool:
        for process in self.processes.values():
            process.check_alive()
        return port_open(self.options.api_port)

    def pids(self) -> dict[str, int]:
        """The stack's processes by name, for memory sampling."""
        pids = {name: p.pid for name, p in self.processes.items() if p.alive()}
        for name, service in (
            ("temporal", self.temporal),
            ("postgres", self.postgres),
            ("kafka", self.kafka),
            ("jaeger", self.jaeger),
            ("payment-provider", self.provider),
        ):
            if service is not None and service.pid is not None:
                pids[name] = service.pid
        return pids

    def stop_process(self, name: str) -> None:
        self.processes.pop(name).stop()

    def spawn(
        self,
        name: str,
        args: Sequence[str],
        env: dict[str, str] | None = None,
        *,
        sdk_metrics: bool = False,
        cwd: Path | None = None,
    ) -> ManagedProcess:
        """Start a child of this stack, watched and stopped with it; ``cwd``: run another
        checkout's code (bench/worker_cost.py compares two)."""
        env = {**self.child_env(), **(env or {})}
        if self.options.metrics:
            port = listen_port()
            env["ORDERS_TELEMETRY__METRICS_PORT"] = str(port)
            self.metrics_urls[name] = f"http://127.0.0.1:{port}/metrics"
            if sdk_metrics:
                address = f"127.0.0.1:{listen_port()}"
                env["ORDERS_TEMPORAL__METRICS_BIND_ADDRESS"] = address
                self.metrics_urls[f"{name}-sdk"] = f"http://{address}/metrics"
        log_path = self.options.run_dir / "logs" / f"{name}.log"
        if self.launcher is not None:
            args = [*self.launcher(name), *args]
        process = ManagedProcess(name, args, log_path, env=env, cwd=cwd).start()
        self.processes[name] = process
        return process

    def _run_once(self, name: str, args: Sequence[str]) -> None:
        process = ManagedProcess(
            name, args, self.options.run_dir / "logs" / f"{name}.log", env=self.child_env()
        ).start()
        returncode = process.wait(timeout=300)
        if returncode != 0:
            raise RuntimeError(f"{name} failed ({returncode}):\n{process.log_tail()}")


def listen_port() -> int:
    """A free port below the kernel's ephemeral range, for a server that binds it later.

    ``free_port()`` hands out an ephemeral port, which an outgoing connection may take
    before a slow-starting process binds it (seen with ten endpoints on a loaded machine);
    ports below the range are only ever taken by listeners.
    """
    for _ in range(200):
        port = secrets.choice(_LISTEN_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    return free_port()


_LISTEN_PORTS = range(20000, 32768)


_PROVIDER_VARIABLES = ("ORDERS_PAYMENTS__PROVIDER_URL", "ORDERS_PAYMENTS__SIMULATED_LEDGER_PATH")


def _configured(*variables: str) -> bool:
    return any(os.environ.get(name) for name in variables)
