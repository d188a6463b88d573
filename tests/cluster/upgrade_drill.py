"""``make upgrade-drill``: the Temporal server upgraded by one minor release under load.

    python -m tests.cluster.upgrade_drill [--orders-per-second R] [--run-dir DIR] [--no-record]

A two-node cluster (mTLS, on a durable PostgreSQL) starts on the previous minor release,
its schemas made by that release's own sql tool. The API and the workers run orders through
it; while orders keep coming, the schemas are updated with the new release's sql tool and
the nodes are replaced one at a time by the new release (docs/upgrade.md, section 4). Then
every order must reach a terminal state, with one charge per confirmed order: nothing lost.
The figures are printed and written into docs/upgrade.md (``--no-record`` leaves it alone).
Not part of ``make test``: the previous release is a build of about 9 minutes of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from clients.temporal import connect_temporal
from config.settings import Settings, TemporalSettings
from devstack import go_servers
from devstack.postgres import PostgresCluster
from devstack.postgres_binaries import SUPERUSER
from devstack.temporal import temporal_cli
from devstack.temporal_cluster import TemporalCluster
from devstack.temporal_schema import schema_versions
from persistence.migrate import upgrade
from tests.cluster.conftest import cluster_temporal_settings
from tests.cluster.node_failures import Figures, production_processes, settle
from tests.e2e.harness import Api
from tools.bootstrap import bootstrap_temporal

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "upgrade.md"
RECORD = re.compile(r"(<!-- drill:start -->\n).*?(<!-- drill:end -->)", re.DOTALL)
# Section 4's blocks, which the runbook's test leaves to this drill.
DRILL_BLOCK = re.compile(r"^```sh drill\n(.*?)^```", re.MULTILINE | re.DOTALL)
APP_DATABASE = "orders"
PREVIOUS = "-previous"
# Orders before the swap starts, so that sagas are in flight when the first node goes.
WARM_UP_SECONDS = 10.0
SETTLE_WITHIN = 300.0
# Each charge takes this long at the simulated provider: sagas stay open for seconds.
PROVIDER_LATENCY_MS = 1500


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)  # noqa: T201 - a drill's progress


@dataclass
class Swap:
    """What the swap took, step by step, and how many sagas were open when it began."""

    steps: dict[str, float] = field(default_factory=dict)
    in_flight_at_start: int = 0
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


def replace_nodes(cluster: TemporalCluster, postgres: PostgresCluster, swap: Swap) -> None:
    """The runbook's section 4, its blocks as written: schemas first (the old release runs
    on them), then one node at a time, each back in the ring before the next goes."""
    schema_block, node_check = drill_blocks()
    env = block_env(cluster, postgres)
    started = time.monotonic()
    say("updating the schemas with the new release's temporal-sql-tool (the runbook's block) …")
    run_block(schema_block, env)
    swap.steps["schema update"] = time.monotonic() - started
    say(f"  schemas {schema_versions(postgres)} in {swap.steps['schema update']:.1f} s")
    for node in cluster.nodes:
        began = time.monotonic()
        say(f"stopping {node.name} ({node.address}) …")
        node.stop()
        node.release = ""
        cluster.start_node(node)
        checked = run_block(node_check, {**env, "NODE_ADDRESS": node.address})
        swap.steps[f"{node.name} replaced"] = time.monotonic() - began
        say(
            f"  {node.name} back on the new release at {node.address} (pid {node.pid}) "
            f"in {swap.steps[f'{node.name} replaced']:.1f} s; the CLI says: "
            + " / ".join(line.strip() for line in checked.splitlines() if line.strip())
        )


async def place_steadily(api: Api, rate: float, stop: asyncio.Event, accepted: list[str]) -> int:
    """POST orders at ``rate`` a second until ``stop``; a 503 is sent again with the same
    Idempotency-Key, as a careful client does. Returns how many POSTs were answered 503."""
    refused = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        nonlocal refused
        key = f"drill-{i}-{time.monotonic_ns()}"
        token = "tok_chargeDeclined" if i % 5 == 0 else "tok_visa"
        for _ in range(60):
            item = {"product_id": "sku-beans", "quantity": 1}
            response = await api.place(f"drill-{i}", token=token, key=key, items=[item])
            if response.status_code == 202:
                accepted.append(response.json()["order_id"])
                return
            refused += 1
            await asyncio.sleep(1.0)

    i = 0
    while not stop.is_set():
        task = asyncio.create_task(one(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
        await asyncio.sleep(1 / rate)
    if tasks:
        await asyncio.gather(*tasks)
    return refused


async def drill(run_dir: Path, rate: float) -> tuple[Figures, Swap]:
    swap = Swap()
    for name in ("temporal-server-previous", "temporal-sql-tool-previous"):
        say(f"{name}: {go_servers.binary(name)} (built once, about 9 minutes)")
    postgres = PostgresCluster(run_dir / "postgres", durable=True)
    cluster = TemporalCluster(run_dir / "temporal", postgres, nodes=2, tls=True, release=PREVIOUS)
    try:
        postgres.start()
        say(f"PostgreSQL at {postgres.url()}")
        began = time.monotonic()
        await asyncio.to_thread(cluster.start)
        settings = cluster_temporal_settings(cluster)
        swap.versions_before = await server_versions(cluster, settings)
        swap.schema_before = schema_versions(postgres)
        say(
            f"cluster up in {time.monotonic() - began:.1f} s: {', '.join(swap.versions_before)}"
            f" at {cluster.address}; schemas {swap.schema_before}"
        )
        for line in await bootstrap_temporal(Settings(temporal=settings)):
            say(f"  {line}")
        app_url = postgres.create_database(APP_DATABASE, exist_ok=True)
        await asyncio.to_thread(upgrade, app_url)
        client = await connect_temporal(settings)
        async with production_processes(app_url, settings, PROVIDER_LATENCY_MS) as api:
            stop = asyncio.Event()
            accepted: list[str] = []
            placing = asyncio.create_task(place_steadily(api, rate, stop, accepted))
            say(f"placing {rate:g} orders a second; the swap starts in {WARM_UP_SECONDS:g} s")
            await asyncio.sleep(WARM_UP_SECONDS)
            swap.in_flight_at_start = await open_sagas(client)
            say(f"{len(accepted)} orders accepted, {swap.in_flight_at_start} sagas in flight")
            swap.started = time.monotonic()
            await asyncio.to_thread(replace_nodes, cluster, postgres, swap)
            swap.finished = time.monotonic()
            swap.versions_after = await server_versions(cluster, settings)
            swap.schema_after = schema_versions(postgres)
            say(f"swapped in {swap.finished - swap.started:.1f} s: {swap.versions_after}")
            await asyncio.sleep(WARM_UP_SECONDS)  # orders on the new release too
            stop.set()
            retried = await placing
            say(f"{len(accepted)} orders accepted; waiting for every saga to finish …")
            figures = await settle(api, accepted, swap.started, SETTLE_WITHIN)
        figures.placed = len(accepted)
        figures.retried_posts = retried
        return figures, swap
    finally:
        cluster.stop()
        postgres.stop()


def record(figures: Figures, swap: Swap, rate: float) -> str:
    lost = figures.accepted - figures.terminal
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in swap.steps.items())
    return (
        f"Recorded run ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `make upgrade-drill`, this "
        f"2-CPU machine):\n\n"
        f"| figure | value |\n|---|---|\n"
        f"| before | {', '.join(swap.versions_before)}; schemas {swap.schema_before} |\n"
        f"| after | {', '.join(swap.versions_after)}; schemas {swap.schema_after} |\n"
        f"| swap, start to end | {swap.finished - swap.started:.1f} s ({steps}) |\n"
        f"| load | {rate:g} orders/s through the API, before, during and after the swap |\n"
        f"| sagas in flight when the swap began | {swap.in_flight_at_start} |\n"
        f"| orders accepted | {figures.accepted} ({figures.retried_posts} POSTs answered 503 "
        f"and sent again) |\n"
        f"| terminal | {figures.terminal} ({figures.statuses}) |\n"
        f"| lost | {lost} |\n"
        f"| double charges, confirmed without a charge | {figures.double_charges}, "
        f"{figures.missing_charges} |\n"
        f"| last saga finished | {figures.recovery_seconds:.1f} s after the swap began |\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster.upgrade_drill")
    parser.add_argument("--orders-per-second", type=float, default=2.0)
    parser.add_argument("--run-dir", type=Path, help="kept afterwards (default: a temp folder)")
    parser.add_argument("--no-record", action="store_true", help="leave docs/upgrade.md alone")
    args = parser.parse_args()
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="upgrade-drill-"))
    say(f"upgrade drill in {run_dir}")
    try:
        figures, swap = asyncio.run(drill(run_dir.absolute(), args.orders_per_second))
    finally:
        if args.run_dir is None:
            shutil.rmtree(run_dir, ignore_errors=True)
    text = record(figures, swap, args.orders_per_second)
    print(text, flush=True)  # noqa: T201 - the figures, as recorded
    lost = figures.accepted - figures.terminal
    passed = lost == 0 and figures.double_charges == 0 and figures.missing_charges == 0
    if passed and not args.no_record:
        RUNBOOK.write_text(RECORD.sub(lambda m: m[1] + text + m[2], RUNBOOK.read_text()))
        say(f"recorded in {RUNBOOK.relative_to(ROOT)}")
    say("PASSED: every saga finished, nothing lost" if passed else "FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
