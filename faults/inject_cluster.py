"""The faults only the production topology has: its Temporal nodes, partitions, a slow link.

A killed node is brought back by the harness's node keeper (faults/harness.py), as the
production stack's supervisor does; a partition is cut by faults/partition.py and healed
when the outage ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection

from devstack.kafka_cluster import KafkaCluster
from devstack.temporal_cluster import TemporalNode, frontend_answers
from faults.harness import Harness
from faults.inject import ExpectationError, Injection

SLOW_LINK_MS = 200
RESTART_WITHIN = 120.0


def _node(h: Harness, index: int) -> TemporalNode:
    return h.cluster.temporal.nodes[index]


def kill_node(index: int) -> Injection:
    """``index`` 0 is the first address of every process's list: the frontend they connect
    through; 1 is the other node."""

    async def inject(h: Harness, _: float) -> str:
        node = _node(h, index)
        pid = node.pid
        began = time.monotonic()
        await asyncio.to_thread(node.kill)
        cluster = h.cluster.temporal
        # The keeper restarts it; the row's note says how long until it answered again.
        while time.monotonic() - began < RESTART_WITHIN:
            await asyncio.sleep(0.5)
            if node.alive() and await asyncio.to_thread(
                frontend_answers, node.address, cluster.client_tls()
            ):
                back = time.monotonic() - began
                return f"{node.name} (pid {pid}) killed; answering again after {back:.1f} s"
        raise ExpectationError(f"{node.name} not back within {RESTART_WITHIN:g} s")

    return inject


async def restart_both_nodes(h: Harness, _: float) -> str:
    cluster = h.cluster.temporal
    h.nodes_held.update(node.name for node in cluster.nodes)
    began = time.monotonic()
    try:
        await asyncio.to_thread(cluster.stop)
        stopped = time.monotonic() - began
        for node in cluster.nodes:
            await asyncio.to_thread(cluster.start_node, node)
    finally:
        h.nodes_held.clear()
    back = time.monotonic() - began
    return f"both nodes stopped in {stopped:.1f} s; serving again after {back:.1f} s"


def _frontend_ports(h: Harness) -> set[int]:
    ports = {node.ports.frontend for node in h.cluster.temporal.nodes}
    ports |= {int(a.rsplit(":", 1)[1]) for a in h.cluster.toxiproxy.listen.values()}
    return ports


def cut_processes(processes: Collection[str], target: str) -> Injection:
    """``processes`` send nothing to ``target`` ("temporal", "postgres", "kafka") for the
    outage, then the link is healed."""

    def ports(h: Harness) -> set[int]:
        if target == "temporal":
            return _frontend_ports(h)
        if target == "postgres":
            return {h.cluster.postgres.port}
        cluster = h.stack.kafka
        assert isinstance(cluster, KafkaCluster)
        return {node.port for node in cluster.nodes}

    async def inject(h: Harness, outage: float) -> str:
        assert h.partitions is not None
        async with h.partitions.cut(processes, ports(h)) as cut:
            await asyncio.sleep(outage)
        return f"{cut}; cut {outage:g} s, then healed"

    return inject


async def cut_nodes_apart(h: Harness, outage: float) -> str:
    """Each node's packets to the other's gRPC and membership ports dropped (frontend,
    history, matching, worker; not the metrics): ringpop and history<->matching both cut,
    while every client and PostgreSQL still reach both."""
    assert h.partitions is not None
    first, second = h.cluster.temporal.nodes

    def listening(node: TemporalNode) -> set[int]:
        ports = vars(node.ports)
        return {port for key, port in ports.items() if key not in {"metrics", "frontend_http"}}

    async with (
        h.partitions.cut([f"temporal-{first.name}"], listening(second)) as one,
        h.partitions.cut([f"temporal-{second.name}"], listening(first)) as two,
    ):
        await asyncio.sleep(outage)
    return f"{one}; {two}; apart {outage:g} s, then healed"


async def slow_link(h: Harness, outage: float) -> str:
    proxy = h.cluster.toxiproxy
    await asyncio.to_thread(proxy.add_latency, SLOW_LINK_MS)
    try:
        await asyncio.sleep(outage)
    finally:
        await asyncio.to_thread(proxy.remove_latency)
    return f"{SLOW_LINK_MS} ms added to every reply from Temporal to the workers for {outage:g} s"


CLUSTER_INJECTIONS: dict[str, Injection] = {
    "kill-9 temporal node1 (the frontend in use)": kill_node(0),
    "kill-9 temporal node2": kill_node(1),
    "both temporal nodes restarted": restart_both_nodes,
    "partition worker-payments | temporal": cut_processes(["worker-payments"], "temporal"),
    "partition relays | kafka": cut_processes(["outbox-relay", "outbox-relay-standby"], "kafka"),
    "partition api | postgres": cut_processes(["api"], "postgres"),
    "partition temporal node1 | node2": cut_nodes_apart,
    "partition worker-inventory | postgres": cut_processes(["worker-inventory"], "postgres"),
    "slow link workers | temporal": slow_link,
}
