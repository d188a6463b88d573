"""Three Kafka nodes in KRaft mode on loopback: what a fault run needs to lose a broker.

Each node is broker and controller at once (three controller voters, so one may die and the
quorum holds). Topics default to replication factor 3 and ``min.insync.replicas=2``: with
``acks=all`` a write is on two brokers before the relay marks its event published, and one
broker may be down without stopping writes. Each node keeps its ports and data across a
kill and a restart, as :class:`devstack.kafka.KafkaBroker` does.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devstack.kafka import READY_TIMEOUT, STOP_TIMEOUT, KafkaBroker, random_cluster_id
from devstack.process import free_port

REPLICATION = 3
MIN_INSYNC = 2


class ClusterNode(KafkaBroker):
    """One member of a :class:`KafkaCluster`; its config names every voter."""

    def __init__(self, run_dir: Path, node_id: int, cluster: KafkaCluster) -> None:
        super().__init__(run_dir)
        self.node_id = node_id
        self._cluster = cluster
        self.cluster_id = cluster.cluster_id

    def _properties(self) -> dict[str, str]:
        props = super()._properties()
        replicas, insync = str(REPLICATION), str(MIN_INSYNC)
        props.update(
            {
                "node.id": str(self.node_id),
                "controller.quorum.voters": self._cluster.voters,
                "default.replication.factor": replicas,
                "min.insync.replicas": insync,
                "offsets.topic.replication.factor": replicas,
                "transaction.state.log.replication.factor": replicas,
                "transaction.state.log.min.isr": insync,
                "share.coordinator.state.topic.replication.factor": replicas,
                "share.coordinator.state.topic.min.isr": insync,
                # a restarted node must catch up before it counts as in sync again
                "replica.lag.time.max.ms": "10000",
            }
        )
        return props


class KafkaCluster:
    """``size`` nodes under ``run_dir/node-<id>``; start and stop act on all of them."""

    def __init__(self, run_dir: Path, size: int = REPLICATION) -> None:
        self.run_dir = run_dir.resolve()
        self.cluster_id = random_cluster_id()
        self.nodes = [ClusterNode(self.run_dir / f"node-{i}", i, self) for i in range(1, size + 1)]
        taken = {port for node in self.nodes for port in (node.port, node.controller_port)}
        if len(taken) != 2 * size:  # free_port() may hand out a port twice; pick again
            for node in self.nodes:
                node.controller_port = free_port()
        self.voters = ",".join(
            f"{node.node_id}@127.0.0.1:{node.controller_port}" for node in self.nodes
        )

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    @property
    def pid(self) -> int:
        return self.nodes[0].pid

    def pids(self) -> dict[str, int]:
        return {f"kafka-{node.node_id}": node.pid for node in self.nodes if node.alive()}

    def alive(self) -> bool:
        return all(node.alive() for node in self.nodes)

    def start(self, timeout: float = READY_TIMEOUT) -> KafkaCluster:
        """Launch every node that is down, then wait for each (they need a quorum first)."""
        stopped = [node for node in self.nodes if not node.alive()]
        for node in stopped:
            node.launch()
        try:
            for node in stopped:
                node.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """All nodes at once: one by one, the last could not finish its controlled
        shutdown without a quorum and would wait out ``timeout``."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.stop(timeout=timeout), self.nodes))

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
