"""The server swap of ``make upgrade-drill`` (tests/cluster/upgrade_drill.py): docs/upgrade.md's
section 4 as written there, run on a cluster, with what each step took.

Its ``sh drill`` blocks (the schema update and the check of a replaced node) run here in a
shell, with what the section says an operator has: the new release's sql tool and schema
folder, the database's address, and the CLI's mTLS settings.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from clients.temporal import connect_temporal
from config.settings import TemporalSettings
from devstack import go_servers
from devstack.postgres import PostgresCluster
from devstack.postgres_binaries import SUPERUSER
from devstack.temporal import temporal_cli
from devstack.temporal_cluster import TemporalCluster
from devstack.temporal_schema import schema_versions
from tests.cluster.conftest import cluster_temporal_settings

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "upgrade.md"
# Section 4's blocks, which the runbook's test leaves to the drill.
DRILL_BLOCK = re.compile(r"^```sh drill\n(.*?)^```", re.MULTILINE | re.DOTALL)
NEW_VERSION = go_servers.SERVERS["temporal-server"].version.removeprefix("v")


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)  # noqa: T201 - a drill's progress


@dataclass
class Swap:
    """What the swap took, step by step, and how many sagas were open when it began."""

    steps: dict[str, float] = field(default_factory=dict)
    in_flight_at_start: int = 0
    # Sagas open as each node was stopped.
    in_flight_at_stop: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    versions_before: list[str] = field(default_factory=list)
    versions_after: list[str] = field(default_factory=list)
    schema_before: dict[str, str] = field(default_factory=dict)
    schema_after: dict[str, str] = field(default_factory=dict)


async def server_versions(cluster: TemporalCluster, settings: TemporalSettings) -> list[str]:
    """Each frontend's own answer to "which server are you"."""
    versions = []
    for node in cluster.nodes:
        client = await connect_temporal(settings.model_copy(update={"address": node.address}))
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
        versions.append(f"{node.name} {info.server_version}")
    return versions


async def open_sagas(client: Client) -> int:
    return (await client.count_workflows("ExecutionStatus='Running'")).count


def drill_blocks() -> tuple[str, str]:
    """The runbook's schema update and its check of a replaced node, as written there."""
    schema, node_check = DRILL_BLOCK.findall(RUNBOOK.read_text())
    return schema, node_check


def run_block(block: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{block}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def block_env(cluster: TemporalCluster, postgres: PostgresCluster) -> dict[str, str]:
    """What the runbook's section 4 says the operator has: the new release's tool and
    schemas, the database, and the CLI's mTLS settings."""
    certificates = cluster.certificates
    assert certificates is not None
    return {
        "PATH": f"{temporal_cli().parent}:{os.environ['PATH']}",
        "SQL_TOOL": str(go_servers.binary("temporal-sql-tool")),
        "SCHEMA": str(go_servers.module_dir("temporal-sql-tool") / "schema/postgresql/v12"),
        "PG_HOST": postgres.host,
        "PG_PORT": str(postgres.port),
        "PG_USER": SUPERUSER,
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(certificates.client_cert),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(certificates.client_key),
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(certificates.ca),
        "TEMPORAL_TLS_SERVER_NAME": cluster_temporal_settings(cluster).tls_server_name,
    }


def replace_nodes(
    cluster: TemporalCluster,
    postgres: PostgresCluster,
    swap: Swap,
    count_open: Callable[[], int],
) -> None:
    """The runbook's section 4, its blocks as written: schemas first (the old release runs
    on them), then one node at a time, each back in the ring before the next goes.
    ``count_open`` says how many sagas are open as each node goes."""
    schema_block, node_check = drill_blocks()
    env = block_env(cluster, postgres)
    started = time.monotonic()
    say("updating the schemas with the new release's temporal-sql-tool (the runbook's block) …")
    run_block(schema_block, env)
    swap.steps["schema update"] = time.monotonic() - started
    say(f"  schemas {schema_versions(postgres)} in {swap.steps['schema update']:.1f} s")
    for node in cluster.nodes:
        began = time.monotonic()
        swap.in_flight_at_stop[node.name] = count_open()
        say(
            f"stopping {node.name} ({node.address}) with "
            f"{swap.in_flight_at_stop[node.name]} sagas in flight …"
        )
        node.stop()
        node.release = ""
        cluster.start_node(node)
        checked = run_block(node_check, {**env, "NODE_ADDRESS": node.address})
        if NEW_VERSION not in checked:
            raise RuntimeError(f"{node.name} does not say it runs {NEW_VERSION}:\n{checked}")
        swap.steps[f"{node.name} replaced"] = time.monotonic() - began
        say(
            f"  {node.name} back on the new release at {node.address} (pid {node.pid}) "
            f"in {swap.steps[f'{node.name} replaced']:.1f} s; the CLI says: "
            + " ".join(re.findall(r"SERVING|\"serverVersion\": \"[^\"]+\"", checked))
        )
