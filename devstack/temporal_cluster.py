"""A real Temporal cluster: N ``temporal-server`` processes on one PostgreSQL, one ring.

The server and its schema tool are built from the Go module (``devstack.go_servers``).
Persistence and visibility both live in PostgreSQL; the schemas are created and upgraded
with the server's own ``temporal-sql-tool`` from the module's versioned schema folders.
Each node runs every service (frontend, history, matching, worker) from the config
template in ``devstack/temporal_cluster_config/`` rendered with its own ports; the nodes
find each other through the ``cluster_membership`` table, on loopback.

``python -m devstack.temporal_cluster --run-dir DIR`` runs one in the foreground.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import random
import socket
import string
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import yaml
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, TLSConfig

from devstack import go_servers
from devstack.postgres import PostgresCluster
from devstack.postgres_binaries import SUPERUSER
from devstack.process import (
    ManagedProcess,
    ManagedService,
    ServiceUnavailableError,
    free_port,
    wait_until,
)
from devstack.supervisor import StopRequest
from devstack.temporal_schema import DATABASE, VISIBILITY_DATABASE, prepare_schemas
from devstack.temporal_tls import ClusterCertificates

CONFIG_DIR = Path(__file__).resolve().parent / "temporal_cluster_config"
SYSTEM_NAMESPACE = "temporal-system"


def free_membership_port() -> int:
    """A free port below 32768: the membership table stores ports as SMALLINT, so the
    kernel's ephemeral range (what ``free_port`` hands out) does not fit."""
    for _ in range(200):
        port = random.randint(20000, 32000)  # noqa: S311  (not for security)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ServiceUnavailableError("no free port below 32768 for Temporal's membership")


@dataclass
class NodePorts:
    frontend: int = field(default_factory=free_port)
    frontend_membership: int = field(default_factory=free_membership_port)
    frontend_http: int = field(default_factory=free_port)
    history: int = field(default_factory=free_port)
    history_membership: int = field(default_factory=free_membership_port)
    matching: int = field(default_factory=free_port)
    matching_membership: int = field(default_factory=free_membership_port)
    worker: int = field(default_factory=free_port)
    worker_membership: int = field(default_factory=free_membership_port)
    metrics: int = field(default_factory=free_port)


class TemporalNode(ManagedService):
    """One ``temporal-server start`` process with all four services."""

    stop_timeout = 20.0  # a stopping node first hands its shards to the others

    def __init__(self, name: str, run_dir: Path, config: str, release: str = "") -> None:
        self.name = name
        self.run_dir = run_dir
        self.ports = NodePorts()
        self._config = config
        # Which build the next start runs: "" the project's, "-previous" the minor release
        # before it; the upgrade drill changes it between a stop and a start.
        self.release = release
        # What the server is started through (the fault run's cgroup launcher); none here.
        self.launcher: list[str] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ports.frontend}"

    def write_config(self, values: dict[str, str], tls: dict[str, object] | None) -> Path:
        ports = {f"{key}_port": str(value) for key, value in vars(self.ports).items()}
        rendered = string.Template(self._config).substitute({**values, **ports})
        config_file = self.run_dir / "config.yaml"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if tls is None:
            config_file.write_text(rendered)
        else:
            document = yaml.safe_load(rendered)
            document["global"]["tls"] = tls
            config_file.write_text(yaml.safe_dump(document, sort_keys=False))
        return config_file

    def start(self, config_file: Path) -> None:
        args = [
            *self.launcher,
            str(go_servers.binary(f"temporal-server{self.release}")),
            "--config-file",
            str(config_file),
            "--allow-no-auth",
            "start",
        ]
        self._launch(
            ManagedProcess(
                f"temporal-{self.name}", args, self.run_dir / "server.log", cwd=self.run_dir
            )
        )


class TemporalCluster:
    """``nodes`` server processes sharing ``postgres`` (which the caller starts and stops).

    With ``tls=True`` the frontends serve mTLS with certificates generated into the run
    folder (``self.certificates``): clients must present one signed by the same CA.
    ``release="-previous"`` starts it on the minor release before the project's
    (``devstack.go_servers``), schemas included: the upgrade drill's starting point.
    """

    def __init__(
        self,
        run_dir: Path,
        postgres: PostgresCluster,
        *,
        nodes: int = 2,
        tls: bool = False,
        release: str = "",
    ) -> None:
        self.run_dir = run_dir.absolute()
        self.postgres = postgres
        self.release = release
        template = (CONFIG_DIR / "config.yaml").read_text()
        self.nodes = [
            TemporalNode(f"node{i + 1}", self.run_dir / f"node{i + 1}", template, release)
            for i in range(nodes)
        ]
        self.certificates = ClusterCertificates(self.run_dir / "tls") if tls else None

    @property
    def addresses(self) -> list[str]:
        return [node.address for node in self.nodes]

    @property
    def address(self) -> str:
        """Every frontend, comma-separated: the form ``ORDERS_TEMPORAL__ADDRESS`` takes."""
        return ",".join(self.addresses)

    @property
    def pids(self) -> dict[str, int]:
        return {node.name: pid for node in self.nodes if (pid := node.pid) is not None}

    def client_tls(self) -> TLSConfig | bool:
        if self.certificates is None:
            return False
        return self.certificates.client_tls_config()

    def start(self, timeout: float = 120.0) -> TemporalCluster:
        prepare_schemas(self.postgres, self.release)
        if self.certificates is not None:
            self.certificates.ensure()
        values = {
            "database": DATABASE,
            "visibility_database": VISIBILITY_DATABASE,
            "pg_host": self.postgres.host,
            "pg_port": str(self.postgres.port),
            "pg_user": SUPERUSER,
            "pg_password": "",
            "dynamic_config": str(CONFIG_DIR / "dynamicconfig.yaml"),
        }
        tls = None if self.certificates is None else self.certificates.server_config()
        values["cluster_rpc_address"] = self.nodes[0].address
        # The first start writes the cluster's metadata row; nodes racing to do so fail.
        first, *others = self.nodes
        first.start(first.write_config(values, tls))
        self.wait_ready(first, timeout)
        for node in others:
            node.start(node.write_config(values, tls))
        for node in others:
            self.wait_ready(node, timeout)
        return self

    def start_node(self, node: TemporalNode, timeout: float = 120.0) -> None:
        """Start a stopped or killed node again with the config it had."""
        node.start(node.run_dir / "config.yaml")
        self.wait_ready(node, timeout)

    def wait_ready(self, node: TemporalNode, timeout: float = 120.0) -> None:
        def ready() -> bool:
            node.check_alive()
            return frontend_answers(node.address, self.client_tls())

        wait_until(ready, timeout, f"Temporal {node.name} on {node.address}", interval=0.5)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()


async def _describe_system_namespace(address: str, tls: TLSConfig | bool) -> None:
    client = await Client.connect(address, namespace=SYSTEM_NAMESPACE, tls=tls)
    await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=SYSTEM_NAMESPACE), timeout=timedelta(seconds=2)
    )


def frontend_answers(address: str, tls: TLSConfig | bool = False) -> bool:
    """Whether the frontend at ``address`` serves requests backed by the database.

    Runs in a thread of its own so callers inside an event loop can use it too.
    """
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            pool.submit(asyncio.run, _describe_system_namespace(address, tls)).result(10)
        except Exception:  # any failure means "not yet"
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a Temporal cluster in the foreground.")
    parser.add_argument("--run-dir", type=Path, default=Path(".run/temporal-cluster"))
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--tls", action="store_true", help="mTLS on the frontends")
    args = parser.parse_args()
    postgres = PostgresCluster(args.run_dir / "postgres", durable=True)
    postgres.start()
    cluster = TemporalCluster(args.run_dir, postgres, nodes=args.nodes, tls=args.tls)
    stop = StopRequest()

    def nodes_alive() -> bool:
        for node in cluster.nodes:
            node.check_alive()
        return True

    try:
        print("starting the Temporal cluster …", flush=True)
        cluster.start()
        for node in cluster.nodes:
            print(f"  {node.name}: frontend {node.address} (pid {node.pid})", flush=True)
        print(f"  PostgreSQL: {postgres.url(DATABASE)}", flush=True)
        stop.wait_until_requested(nodes_alive)
    finally:
        cluster.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
