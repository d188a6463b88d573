"""``make dev ARGS=--production``: the production topology on this machine.

A durable PostgreSQL (fsync on) holding the application's database and Temporal's
persistence and visibility; a two-node Temporal cluster whose frontends serve mTLS with
certificates generated into the run folder; the Temporal Web UI; Kafka; then
``python -m tools.bootstrap`` (namespace, search attributes, migrations) and the processes
of ``devstack.stack`` -- the API, one worker process per task queue, the outbox relay --
connected to both frontends.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from config.demo_allowance import allowance_notice
from config.settings import load_settings
from devstack.codec_keys import codec_env
from devstack.jwks_issuer import JwksIssuer
from devstack.kafka import KafkaBroker
from devstack.payment_provider import TOKEN_VARIABLE, PaymentProviderService, provider_token_env
from devstack.postgres import PostgresCluster
from devstack.process import ManagedProcess, ServiceUnavailableError
from devstack.stack import Stack, StackOptions
from devstack.supervisor import StopRequest, Supervisor, say
from devstack.temporal_cluster import TemporalCluster, TemporalNode
from devstack.temporal_tls import SERVER_NAME
from devstack.temporal_ui import TemporalWebUI
from devstack.tokens import mint_token
from messages import queues

NAMESPACE = "orders"
DATABASE = "orders"
# Production, with the demo parts this machine runs -- the simulated provider, notices to
# the log, one Kafka broker -- named by the demo allowance (config/demo_allowance.py) and
# printed at start; nothing else production refuses is let through.
DEMO_ENV = {"ORDERS_ENVIRONMENT": "production", "ORDERS_DEMO_ALLOWANCE": "true"}


@dataclass
class ProductionOptions:
    run_dir: Path = Path(".run/production")
    api_port: int = 8000
    ui_port: int = 8233
    postgres_port: int | None = None
    kafka_port: int | None = None
    nodes: int = 2


class ProductionStack:
    def __init__(self, options: ProductionOptions) -> None:
        self.options = options
        run_dir = options.run_dir.absolute()
        self.postgres = PostgresCluster(
            run_dir / "postgres", port=options.postgres_port, durable=True
        )
        self.temporal = TemporalCluster(
            run_dir / "temporal", self.postgres, nodes=options.nodes, tls=True
        )
        self.ui: TemporalWebUI | None = None
        self.kafka: KafkaBroker | None = None
        self.stack = Stack(
            StackOptions(
                run_dir=run_dir,
                api_port=options.api_port,
                temporal_port=0,
                worker_groups=[[name] for name in queues.ALL],
            )
        )

    def temporal_env(self) -> dict[str, str]:
        """How every process reaches the cluster: both frontends, over mTLS."""
        certificates = self.temporal.certificates
        assert certificates is not None
        return {
            "ORDERS_TEMPORAL__ADDRESS": self.temporal.address,
            "ORDERS_TEMPORAL__NAMESPACE": NAMESPACE,
            "ORDERS_TEMPORAL__TLS_CLIENT_CERT_PATH": str(certificates.client_cert),
            "ORDERS_TEMPORAL__TLS_CLIENT_KEY_PATH": str(certificates.client_key),
            "ORDERS_TEMPORAL__TLS_SERVER_CA_PATH": str(certificates.ca),
            "ORDERS_TEMPORAL__TLS_SERVER_NAME": SERVER_NAME,
            "ORDERS_TEMPORAL__UI_URL": self.ui.url if self.ui is not None else "",
        }

    def start_edge_services(self) -> None:
        """The local token issuer (RS256; the API fetches its JWKS) and the one shared payment
        provider (behind a bearer token of the run's own); the stack stops both. Every
        process, the provider first, then runs with the production checks on
        (config/production_checks.py): no dev secret, issuer or audience, no in-process
        provider, and of the demo parts only what the demo allowance names (DEMO_ENV)."""
        run_dir = self.options.run_dir.absolute()
        self.stack.issuer = JwksIssuer(run_dir / "issuer").start()
        self.stack.env.update(
            {
                **self.stack.issuer.settings_env(),
                **codec_env(run_dir),
                **DEMO_ENV,
                **provider_token_env(),
            }
        )
        self.stack.provider = PaymentProviderService(run_dir, env=self.stack.child_env()).start()
        self.stack.env["ORDERS_PAYMENTS__PROVIDER_URL"] = self.stack.provider.url

    def start(self) -> ProductionStack:
        opts = self.options
        opts.run_dir.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        self.postgres.create_database(DATABASE, exist_ok=True)
        self.temporal.start()
        ui = TemporalWebUI(
            opts.run_dir / "temporal-ui",
            self.temporal.addresses[0],
            port=opts.ui_port or None,
            namespace=NAMESPACE,
            certificates=self.temporal.certificates,
        )
        try:
            self.ui = ui.start()
        except ServiceUnavailableError as exc:
            # The UI is for people; the system runs without it (README: Web UI).
            print(f"Temporal Web UI not started: {exc}", flush=True)
            ui.stop()
        self.kafka = KafkaBroker(opts.run_dir / "kafka", port=opts.kafka_port).start()
        self.stack.kafka = self.kafka  # the stack starts the relay and stops the broker
        self.stack.env.update(
            {
                **self.temporal_env(),
                "ORDERS_DATABASE__URL": self.postgres.url(DATABASE),
                "ORDERS_KAFKA__BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            }
        )
        self.start_edge_services()
        self.bootstrap()
        self.stack.prepare_database()  # migrations are at head already; seeds the catalog
        self.stack.start_processes()
        return self

    def bootstrap(self) -> None:
        process = ManagedProcess(
            "bootstrap",
            [sys.executable, "-m", "tools.bootstrap"],
            self.options.run_dir / "logs" / "bootstrap.log",
            env=self.stack.child_env(),
        ).start()
        if process.wait(timeout=300) != 0:
            raise RuntimeError(f"bootstrap failed:\n{process.log_tail()}")
        print(process.log_tail(), flush=True)

    def supervise(self, say: Callable[[str], None]) -> Supervisor:
        """Restarts whatever dies: the stack's processes and Kafka, and a Temporal node
        (the other frontend serves meanwhile)."""
        supervisor = self.stack.supervise(say)
        for node in self.temporal.nodes:
            supervisor.watch(
                f"temporal {node.name}", _RestartableNode(self.temporal, node), lambda: "exited"
            )
        return supervisor

    def stop(self) -> None:
        self.stack.stop()  # processes, then Kafka
        if self.ui is not None:
            self.ui.stop()
        self.temporal.stop()
        self.postgres.stop()

    def addresses(self) -> str:
        lines = [
            f"  API               {self.stack.api_url}  (docs: {self.stack.api_url}/docs)",
            f"  Temporal UI       {self.ui.url if self.ui else '-'}",
        ]
        lines += [
            f"  Temporal {node.name:<8} {node.address}  (mTLS, pid {node.pid})"
            for node in self.temporal.nodes
        ]
        lines += [
            f"  PostgreSQL        {self.postgres.url(DATABASE)}  (durable)",
            f"  Kafka             {self.kafka.bootstrap_servers if self.kafka else '-'}",
            f"  payment provider  {self.stack.provider.url if self.stack.provider else '-'}",
            f"  provider token    {self.stack.env.get(TOKEN_VARIABLE, '-')}  (its admin routes)",
            f"  token issuer      {self.stack.issuer.jwks_url if self.stack.issuer else '-'}",
            f"  TLS certificates  {self.temporal.run_dir / 'tls'}",
            f"  logs              {self.options.run_dir}/logs/",
        ]
        return "\n".join(lines)

    def cli_hint(self) -> str:
        certificates = self.temporal.certificates
        assert certificates is not None
        return (
            f"temporal workflow list --address {self.temporal.addresses[-1]} "
            f"--namespace {NAMESPACE} --query \"OrderStatus='CONFIRMED'\" "
            f"--tls-cert-path {certificates.client_cert} --tls-key-path {certificates.client_key} "
            f"--tls-ca-path {certificates.ca} --tls-server-name {SERVER_NAME}"
        )


@dataclass(frozen=True)
class _RestartableNode:
    cluster: TemporalCluster
    node: TemporalNode

    def alive(self) -> bool:
        return self.node.alive()

    def start(self) -> None:
        self.cluster.start_node(self.node)


def run(options: ProductionOptions) -> None:
    """Start the topology, print every address and two dev tokens, run until Ctrl-C."""
    production = ProductionStack(options)
    stop = StopRequest()
    try:
        print(
            "starting PostgreSQL, a two-node Temporal cluster (mTLS), its Web UI, Kafka, "
            "bootstrap, the API, one worker per queue and the relay …",
            flush=True,
        )
        print(f"  {allowance_notice()}", flush=True)
        production.start()
        auth = load_settings().auth
        issuer = production.stack.issuer
        assert issuer is not None
        customer = mint_token(
            auth, "customer-1", "customer", email="c1@example.com", issuer_key=issuer.key_path
        )
        operator = mint_token(auth, "operator-1", "operator", issuer_key=issuer.key_path)
        print(
            f"\n{production.addresses()}\n\n  customer token: {customer}\n"
            f"  operator token: {operator}\n"
            f"  more: python -m tools.token --sub alice --issuer-key {issuer.key_path}\n\n"
            f"  try: {production.cli_hint()}\n"
            "  A child that dies is restarted; Ctrl-C stops everything.\n",
            flush=True,
        )
        stop.supervise_until_requested(production.supervise(say))
    finally:
        print("stopping …", flush=True)
        production.stop()
