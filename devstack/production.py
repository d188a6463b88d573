# size: the production start sequence, in the steps the fault run reuses, its stop and banner
"""``make dev ARGS=--production``: the production topology on this machine.

Keycloak, the identity provider (realm ``orders`` with its demo users); a durable PostgreSQL
(fsync on) holding the application's database and Temporal's persistence and visibility; a
two-node Temporal cluster whose frontends serve mTLS with certificates generated into the run
folder; the Temporal Web UI, where people sign in at Keycloak and whose pages ask the codec
endpoint (``python -m api.codec`` over HTTPS) to decode with the signed-in user's token; three
Kafka brokers (topics replicated three times, as production needs);
then ``python -m tools.bootstrap`` (namespace, search attributes, migrations) and the processes
of ``devstack.stack`` -- the API trusting Keycloak's tokens, one worker process per task queue,
the outbox relay -- connected to both frontends. The workers poll as build ``dev-<commit>``,
promoted once they poll (docs/versioning.md).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from config.demo_allowance import allowance_notice
from devstack.certificates import LoopbackCertificate, loopback_certificate
from devstack.codec_keys import codec_env
from devstack.kafka_cluster import REPLICATION, KafkaCluster
from devstack.keycloak import Keycloak
from devstack.keycloak_realm import UI_CLIENT, client_secret, demo_users
from devstack.payment_provider import TOKEN_VARIABLE, PaymentProviderService, provider_token_env
from devstack.pgbackrest import archive_from_now, archived_if_installed, wait_until_promoted
from devstack.process import ManagedProcess, ServiceUnavailableError, free_port
from devstack.stack import Stack, StackOptions
from devstack.supervisor import StopRequest, Supervisor, say
from devstack.temporal_cluster import TemporalCluster, TemporalNode
from devstack.temporal_tls import SERVER_NAME
from devstack.temporal_ui import TemporalWebUI, UILogin
from devstack.versioned_build import checkout_build_id, promote_when_polling
from messages import queues

NAMESPACE = "orders"
DATABASE = "orders"
# Production, with the demo parts this machine runs -- the simulated provider, notices to
# the log -- named by the demo allowance (config/demo_allowance.py) and
# printed at start; nothing else production refuses is let through.
DEMO_ENV = {"ORDERS_ENVIRONMENT": "production", "ORDERS_DEMO_ALLOWANCE": "true"}


@dataclass
class ProductionOptions:
    run_dir: Path = Path(".run/production")
    api_port: int = 8000
    ui_port: int = 8233
    postgres_port: int | None = None
    keycloak_port: int = 8180
    codec_port: int = 8001
    nodes: int = 2


class ProductionStack:
    def __init__(self, options: ProductionOptions) -> None:
        self.options = options
        run_dir = options.run_dir.absolute()
        self.postgres, self.backups = archived_if_installed(
            run_dir / "postgres", run_dir / "backup", port=options.postgres_port
        )
        self.temporal = TemporalCluster(
            run_dir / "temporal", self.postgres, nodes=options.nodes, tls=True
        )
        self.keycloak = Keycloak(run_dir / "keycloak", port=options.keycloak_port or None)
        self.codec_port = options.codec_port or free_port()
        self.codec_tls: LoopbackCertificate | None = None
        self.ui: TemporalWebUI | None = None
        self.kafka: KafkaCluster | None = None
        self.versions = ""  # tools.deploy status, once the stack promoted its build
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

    @property
    def codec_url(self) -> str:
        return f"https://127.0.0.1:{self.codec_port}/codec"

    def identity_env(self) -> dict[str, str]:
        """Whose tokens the API trusts: Keycloak's realm."""
        return self.keycloak.settings_env()

    def start_edge_services(self) -> None:
        """Trust in Keycloak's tokens (the API fetches the realm's JWKS), the codec endpoint's
        settings, and the one shared payment provider (behind a bearer token of the run's
        own); the stack stops the provider. Every process, the provider first, then runs with
        the production checks on (config/production_checks.py): no dev secret, issuer or
        audience, no in-process provider, and of the demo parts only what the demo allowance
        names (DEMO_ENV)."""
        run_dir = self.options.run_dir.absolute()
        self.codec_tls = loopback_certificate(run_dir / "https")
        self.stack.env.update(
            {
                **self.identity_env(),
                **codec_env(run_dir),
                # The UI's pages call the codec from the browser: its origin alone may.
                "ORDERS_TEMPORAL__CODEC__CORS_ORIGINS": json.dumps(
                    [self.ui.url] if self.ui is not None else []
                ),
                **DEMO_ENV,
                **provider_token_env(),
            }
        )
        self.stack.provider = PaymentProviderService(run_dir, env=self.stack.child_env()).start()
        self.stack.env["ORDERS_PAYMENTS__PROVIDER_URL"] = self.stack.provider.url

    def start(self) -> ProductionStack:
        self.options.run_dir.mkdir(parents=True, exist_ok=True)
        # First: the UI server reads Keycloak's discovery document when it starts.
        self.keycloak.start()
        self.start_temporal()
        self.start_ui()
        self.start_kafka()
        self.start_edge_services()
        self.start_application()
        self.start_codec()
        return self

    def start_temporal(self) -> None:
        """The durable PostgreSQL, then the cluster on it."""
        self.postgres.start()
        wait_until_promoted(self.postgres)  # after python -m tools.backup restore
        self.postgres.create_database(DATABASE, exist_ok=True)
        self.temporal.start()

    def start_ui(self) -> None:
        ui = TemporalWebUI(
            self.options.run_dir / "temporal-ui",
            self.temporal.addresses[0],
            port=self.options.ui_port or None,
            namespace=NAMESPACE,
            certificates=self.temporal.certificates,
            login=UILogin(self.keycloak.issuer, UI_CLIENT, client_secret(UI_CLIENT)),
            codec_endpoint=self.codec_url,
        )
        try:
            self.ui = ui.start()
        except ServiceUnavailableError as exc:
            # The UI is for people; the system runs without it (README: Web UI).
            print(f"Temporal Web UI not started: {exc}", flush=True)
            ui.stop()

    def start_kafka(self) -> None:
        self.kafka = KafkaCluster(self.options.run_dir / "kafka", size=REPLICATION).start()
        self.stack.kafka = self.kafka  # the stack starts the relay and stops the brokers
        self.stack.env.update(
            {
                **self.temporal_env(),
                "ORDERS_DATABASE__URL": self.postgres.url(DATABASE),
                "ORDERS_KAFKA__BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
                "ORDERS_KAFKA__REPLICATION_FACTOR": str(REPLICATION),
            }
        )

    def start_application(self) -> None:
        """Bootstrap, archiving, then the API, the workers and the relay."""
        self.bootstrap()
        if self.backups is not None:
            archive_from_now(self.backups, say)
        self.stack.prepare_database()  # migrations are at head already; seeds the catalog
        build_id = self.stack.env["ORDERS_WORKERS__BUILD_ID"] = checkout_build_id()
        self.stack.start_processes()
        self.versions = promote_when_polling(build_id, self.stack.child_env(), say)

    def start_codec(self) -> None:
        """``python -m api.codec`` over HTTPS: the UI passes a signed-in user's token to an
        ``https://`` codec endpoint only. The API's own ``/codec`` stays for the CLI."""
        assert self.codec_tls is not None
        self.stack.spawn(
            "codec",
            [sys.executable, "-m", "api.codec"],
            {
                "ORDERS_API__CODEC_PORT": str(self.codec_port),
                "ORDERS_API__CODEC_TLS_CERT_PATH": str(self.codec_tls.cert),
                "ORDERS_API__CODEC_TLS_KEY_PATH": str(self.codec_tls.key),
            },
        )

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
        supervisor.watch("keycloak", self.keycloak)
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
        self.keycloak.stop()

    def addresses(self) -> str:
        lines = [
            f"  API               {self.stack.api_url}  (docs: {self.stack.api_url}/docs)",
            f"  Temporal UI       {self.ui.url if self.ui else '-'}  (sign in at Keycloak)",
            f"  payload codec     {self.codec_url}  (self-signed: {self.codec_tls_hint()})",
            f"  Keycloak          {self.keycloak.url}  (admin console: admin / "
            f"{self.keycloak.run_dir / 'admin-password'})",
            f"  token issuer      {self.keycloak.issuer}",
        ]
        lines += [
            f"  Temporal {node.name:<8} {node.address}  (mTLS, pid {node.pid})"
            for node in self.temporal.nodes
        ]
        lines += [
            f"  PostgreSQL        {self.postgres.url(DATABASE)}  (durable)",
            f"  backups           {self.backups.repo_path if self.backups else 'off'}  "
            "(python -m tools.backup info)",
            f"  Kafka             {self.kafka.bootstrap_servers if self.kafka else '-'}",
            f"  payment provider  {self.stack.provider.url if self.stack.provider else '-'}",
            f"  provider token    {self.stack.env.get(TOKEN_VARIABLE, '-')}  (its admin routes)",
            f"  TLS certificates  {self.temporal.run_dir / 'tls'}",
            f"  logs              {self.options.run_dir}/logs/",
        ]
        return "\n".join(lines)

    def codec_tls_hint(self) -> str:
        """What a person's browser needs before the UI can decode: to trust the codec's
        self-signed certificate, once."""
        return f"open https://127.0.0.1:{self.codec_port}/healthz once and accept it"

    def people(self) -> str:
        """The realm's demo users, and how to get one's token for the API or the CLI."""
        lines = [
            f"  {user.username:<6} password {user.password:<11} {', '.join(user.roles)}"
            for user in demo_users()
        ]
        lines.append(
            f"  token: KEYCLOAK_PASSWORD=<password> python -m tools.token "
            f"--issuer {self.keycloak.issuer} --user <name>"
        )
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
            "starting Keycloak, PostgreSQL, a two-node Temporal cluster (mTLS), its Web UI, "
            "three Kafka brokers, bootstrap, the API, one worker per queue, the codec and the "
            "relay …",
            flush=True,
        )
        print(f"  {allowance_notice()}", flush=True)
        production.start()
        print(
            f"\n{production.addresses()}\n\n  people (Keycloak realm orders):\n"
            f"{production.people()}\n\n  worker versioning:\n{production.versions}\n\n"
            f"  try: {production.cli_hint()}\n"
            "  A child that dies is restarted; Ctrl-C stops everything.\n",
            flush=True,
        )
        stop.supervise_until_requested(production.supervise(say))
    finally:
        print("stopping …", flush=True)
        production.stop()
