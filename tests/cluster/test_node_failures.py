"""Faults of the cluster while orders are placed and run through the API and the workers.

Every order whose POST was accepted must reach a terminal state with exactly one charge
per confirmed order, when the node the processes connect through is killed (-9), and
when the whole cluster is restarted.
"""

from __future__ import annotations

import asyncio
import logging
import time

from config.settings import TemporalSettings
from devstack.temporal_cluster import TemporalCluster
from tests.cluster.node_failures import Figures, place_orders, production_processes, settle

ORDERS = 50
SETTLE_WITHIN = 240.0

log = logging.getLogger(__name__)


def assert_all_settled(figures: Figures) -> None:
    assert figures.accepted == ORDERS, figures
    assert figures.terminal == figures.accepted, figures
    assert figures.double_charges == 0, figures
    assert figures.missing_charges == 0, figures
    assert figures.confirmed > 0, figures


async def test_kill_9_of_the_connected_node_while_50_orders_run(
    temporal_cluster: TemporalCluster, temporal_settings: TemporalSettings, pg_url: str
) -> None:
    first, second = temporal_cluster.nodes
    # Every process connects to the first frontend of the list that answers: this one.
    assert temporal_settings.addresses[0] == first.address
    async with production_processes(pg_url, temporal_settings) as api:
        resources_client = (
            api.app.state.resources.temporal if hasattr(api.app.state, "resources") else None
        )
        del resources_client
        try:
            accepted, killed_at, retried = await place_orders(api, ORDERS, ORDERS // 4, first.kill)
            figures = await settle(api, accepted, killed_at, SETTLE_WITHIN)
        finally:
            await asyncio.to_thread(temporal_cluster.start_node, first)
    figures.placed = ORDERS
    figures.retried_posts = retried
    log.warning(figures.line(f"kill -9 of {first.name} (API and workers connected to it)"))
    assert second.alive()
    assert_all_settled(figures)


async def test_whole_cluster_restarted_while_50_orders_run(
    temporal_cluster: TemporalCluster, temporal_settings: TemporalSettings, pg_url: str
) -> None:
    def restart() -> None:
        temporal_cluster.stop()
        time.sleep(1.0)
        temporal_cluster.start_node(temporal_cluster.nodes[0])
        for node in temporal_cluster.nodes[1:]:
            temporal_cluster.start_node(node)

    async with production_processes(pg_url, temporal_settings, gateway_latency_ms=200) as api:
        accepted, restarted_at, retried = await place_orders(api, ORDERS, ORDERS // 2, restart)
        figures = await settle(api, accepted, restarted_at, SETTLE_WITHIN)
    figures.placed = ORDERS
    figures.retried_posts = retried
    log.warning(figures.line("whole cluster restarted"))
    assert_all_settled(figures)
