"""The production topology as ``make faults ARGS=--production`` runs it.

``devstack.production.ProductionStack`` -- the durable, WAL-archived PostgreSQL holding the
application's and Temporal's databases, the two-node Temporal cluster over mTLS, three Kafka
brokers, the shared payment provider, the API, one worker process per queue and the relay,
every process connected to both frontends -- minus what is there for people: no Keycloak
(the local token issuer signs the load's tokens, as the dev-server run's does; a JVM on two
cores costs the run too much), no Web UI, no HTTPS codec. The workers reach Temporal
through Toxiproxy (one proxy per frontend, passing bytes through until the slow-link
fault adds latency), so that fault needs no restart of theirs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devstack.jwks_issuer import JwksIssuer
from devstack.process import free_port
from devstack.production import ProductionOptions, ProductionStack
from devstack.toxiproxy import Toxiproxy


class FaultTopology(ProductionStack):
    def __init__(
        self, run_dir: Path, extra_env: dict[str, str], launcher: Callable[[str], list[str]]
    ) -> None:
        """``launcher``: the command prefix each process and Temporal node starts through
        (faults/partition.py: into a cgroup of its own)."""
        super().__init__(
            ProductionOptions(
                run_dir=run_dir,
                api_port=0,
                ui_port=0,
                postgres_port=free_port(),  # fixed, so a restarted server comes back there
                keycloak_port=0,
                codec_port=0,
            )
        )
        self.stack.env.update(extra_env)
        self.stack.launcher = launcher
        for node in self.temporal.nodes:
            node.launcher = launcher(f"temporal-{node.name}")
        self.issuer = JwksIssuer(self.options.run_dir.absolute() / "issuer")
        self.toxiproxy = Toxiproxy(self.options.run_dir.absolute() / "toxiproxy")

    def identity_env(self) -> dict[str, str]:
        """The local issuer instead of Keycloak; the stack stops it."""
        self.stack.issuer = self.issuer.start()
        return self.issuer.settings_env()

    def start(self) -> FaultTopology:
        self.options.run_dir.mkdir(parents=True, exist_ok=True)
        self.start_temporal()
        self.toxiproxy.start()
        proxies = [
            self.toxiproxy.proxy(f"temporal-{node.name}", node.address)
            for node in self.temporal.nodes
        ]
        self.stack.options.worker_env["ORDERS_TEMPORAL__ADDRESS"] = ",".join(proxies)
        self.start_kafka()
        self.start_edge_services()
        # The harness's audit and load read the application's database through the stack.
        self.stack.postgres = self.postgres
        self.start_application()
        return self

    def stop(self) -> None:
        self.stack.postgres = None  # stopped after the Temporal nodes, not before
        super().stop()
        self.toxiproxy.stop()

    def addresses(self) -> str:
        lines = [
            f"  API               {self.stack.api_url}",
            *(
                f"  Temporal {node.name:<8} {node.address}  (mTLS, pid {node.pid})"
                for node in self.temporal.nodes
            ),
            f"  workers' Temporal {self.stack.options.worker_env['ORDERS_TEMPORAL__ADDRESS']}"
            f"  (Toxiproxy, API {self.toxiproxy.api_url})",
            f"  PostgreSQL        {self.postgres.url('orders')}  (durable, Temporal's too)",
            f"  backups           {self.backups.repo_path if self.backups else 'off'}",
            f"  Kafka             {self.kafka.bootstrap_servers if self.kafka else '-'}",
            f"  payment provider  {self.stack.provider.url if self.stack.provider else '-'}",
            f"  token issuer      {self.issuer.jwks_url}",
            f"  logs              {self.options.run_dir}/logs/",
        ]
        return "\n".join(lines)
