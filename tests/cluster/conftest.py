"""One real two-node Temporal cluster per session, on its own durable PostgreSQL, mTLS on.

The fixtures ``temporal_settings`` and ``temporal_client`` are overridden here, so tests
written for the dev server (the saga paths) run unchanged against the cluster.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client

from clients.temporal import connect_temporal
from config.settings import Settings, TemporalSettings
from devstack.postgres import PostgresCluster
from devstack.process import ServiceUnavailableError
from devstack.temporal_cluster import TemporalCluster
from tests.fixtures.postgres import _data_dir
from tests.fixtures.services import service_unavailable
from tools.bootstrap import bootstrap_temporal

NAMESPACE = "orders"

log = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def temporal_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalCluster]:
    data_dir, remove_after = _data_dir(tmp_path_factory)
    run_dir: Path = tmp_path_factory.mktemp("temporal-cluster")
    postgres = PostgresCluster(data_dir / "data", durable=True, log_path=run_dir / "pg.log")
    cluster = TemporalCluster(run_dir, postgres, nodes=2, tls=True)
    started = time.monotonic()
    try:
        postgres.start()
        cluster.start()
    except ServiceUnavailableError as exc:
        cluster.kill()
        postgres.stop()
        if remove_after:
            shutil.rmtree(data_dir, ignore_errors=True)
        service_unavailable(str(exc))
    log.info("Temporal cluster %s up in %.1fs", cluster.address, time.monotonic() - started)
    try:
        yield cluster
    finally:
        cluster.stop()
        postgres.stop()
        if remove_after:
            shutil.rmtree(data_dir, ignore_errors=True)


def cluster_temporal_settings(cluster: TemporalCluster) -> TemporalSettings:
    certificates = cluster.certificates
    assert certificates is not None
    return TemporalSettings(
        address=cluster.address,
        namespace=NAMESPACE,
        tls_client_cert_path=str(certificates.client_cert),
        tls_client_key_path=str(certificates.client_key),
        tls_server_ca_path=str(certificates.ca),
        tls_server_name="temporal-frontend.order-saga.local",
        failover_probe_seconds=0.5,
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bootstrapped(temporal_cluster: TemporalCluster) -> list[str]:
    """``tools.bootstrap`` on the cluster (Temporal part; the suite migrates its databases)."""
    settings = Settings(temporal=cluster_temporal_settings(temporal_cluster))
    return await bootstrap_temporal(settings)


@pytest.fixture(scope="session")
def temporal_settings(
    temporal_cluster: TemporalCluster, bootstrapped: list[str]
) -> TemporalSettings:
    return cluster_temporal_settings(temporal_cluster)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_client(temporal_settings: TemporalSettings) -> Client:
    return await connect_temporal(temporal_settings)
