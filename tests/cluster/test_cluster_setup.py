"""The cluster as started: one ring of two nodes, mTLS only, bootstrapped, with a Web UI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import httpx
import psycopg
import pytest
from temporalio.client import Client

from config.settings import TemporalSettings
from devstack.postgres import PostgresCluster
from devstack.temporal_cluster import TemporalCluster
from devstack.temporal_schema import DATABASE
from devstack.temporal_ui import TemporalWebUI
from tests.cluster.conftest import NAMESPACE


def test_both_nodes_run_every_service_in_one_ring(temporal_cluster: TemporalCluster) -> None:
    """cluster_membership holds each of the four services once per live node."""
    with psycopg.connect(temporal_cluster.postgres.conninfo(DATABASE)) as conn:
        rows = conn.execute(
            "SELECT role, count(DISTINCT rpc_port) FROM cluster_membership "
            "WHERE last_heartbeat > now() AT TIME ZONE 'UTC' - interval '30 seconds' "
            "GROUP BY role ORDER BY role"
        ).fetchall()
    assert rows == [(1, 2), (2, 2), (3, 2), (4, 2)]
    assert len(temporal_cluster.pids) == 2


async def test_a_client_without_a_certificate_is_refused(
    temporal_cluster: TemporalCluster,
) -> None:
    with pytest.raises(RuntimeError):
        await Client.connect(temporal_cluster.addresses[0], namespace=NAMESPACE)


def test_bootstrap_command_is_idempotent_and_migrates(
    temporal_settings: TemporalSettings, bootstrapped: list[str], pg_cluster: PostgresCluster
) -> None:
    """The session already bootstrapped the namespace; the command finds it all in place
    and brings a fresh database to the migrations' head."""
    assert f"namespace {NAMESPACE}: created, retention 7 days" in bootstrapped
    database = f"bootstrap_{uuid.uuid4().hex[:8]}"
    url = pg_cluster.create_database(database)
    env = {
        **os.environ,
        "ORDERS_DATABASE__URL": url,
        **{
            f"ORDERS_TEMPORAL__{name.upper()}": str(value)
            for name, value in temporal_settings.model_dump().items()
            if name in {"address", "namespace"} or name.startswith("tls_")
        },
    }
    done = subprocess.run(
        [sys.executable, "-m", "tools.bootstrap"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"namespace {NAMESPACE}: exists" in done.stdout
    assert "search attribute OrderStatus (Keyword): exists" in done.stdout
    assert "search attribute CustomerId (Keyword): exists" in done.stdout
    assert "migrated to head" in done.stdout
    with psycopg.connect(pg_cluster.conninfo(database)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() is not None
    pg_cluster.drop_database(database)


async def test_web_ui_serves_the_cluster(
    temporal_cluster: TemporalCluster,
    bootstrapped: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The UI server (built from its Go module) reaches a frontend over mTLS."""
    ui = TemporalWebUI(
        tmp_path_factory.mktemp("ui"),
        temporal_cluster.addresses[0],
        namespace=NAMESPACE,
        certificates=temporal_cluster.certificates,
    )
    await asyncio.to_thread(ui.start)
    try:
        async with httpx.AsyncClient(base_url=ui.url, timeout=10) as http:
            namespaces = (await http.get("/api/v1/namespaces")).json()
            page = await http.get("/")
    finally:
        ui.stop()
    names = [n["namespaceInfo"]["name"] for n in namespaces["namespaces"]]
    assert NAMESPACE in names
    assert page.status_code == 200
    assert "<html" in page.text.lower()
