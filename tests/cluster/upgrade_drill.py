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
import logging
import re
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from clients.temporal import connect_temporal
from config.settings import Settings
from devstack import go_servers
from devstack.postgres import PostgresCluster
from devstack.temporal_cluster import TemporalCluster
from devstack.temporal_schema import schema_versions
from persistence.migrate import upgrade
from tests.cluster.conftest import cluster_temporal_settings
from tests.cluster.node_failures import Figures, production_processes, settle
from tests.cluster.server_swap import RUNBOOK, Swap, open_sagas, replace_nodes, say, server_versions
from tests.e2e.harness import Api
from tools.bootstrap import bootstrap_temporal

ROOT = Path(__file__).resolve().parents[2]
RECORD = re.compile(r"(<!-- drill:start -->\n).*?(<!-- drill:end -->)", re.DOTALL)
APP_DATABASE = "orders"
PREVIOUS = "-previous"
# Orders before the swap starts, so that sagas are in flight when the first node goes.
WARM_UP_SECONDS = 15.0
SETTLE_WITHIN = 300.0
# Each charge takes this long at the simulated provider: sagas stay open for seconds.
PROVIDER_LATENCY_MS = 3000


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
    try:
        while not stop.is_set():
            task = asyncio.create_task(one(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
            await asyncio.sleep(1 / rate)
        if tasks:
            await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        raise
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
            try:
                say(f"placing {rate:g} orders a second; the swap starts in {WARM_UP_SECONDS:g} s")
                await asyncio.sleep(WARM_UP_SECONDS)
                swap.in_flight_at_start = await open_sagas(client)
                say(f"{len(accepted)} orders accepted, {swap.in_flight_at_start} sagas in flight")
                swap.started = time.monotonic()
                loop = asyncio.get_running_loop()

                def count_open() -> int:
                    return asyncio.run_coroutine_threadsafe(open_sagas(client), loop).result(30)

                await asyncio.to_thread(replace_nodes, cluster, postgres, swap, count_open)
                swap.finished = time.monotonic()
                swap.versions_after = await server_versions(cluster, settings)
                swap.schema_after = schema_versions(postgres)
                say(f"swapped in {swap.finished - swap.started:.1f} s: {swap.versions_after}")
                await asyncio.sleep(WARM_UP_SECONDS)  # orders on the new release too
                stop.set()
                retried = await placing
            finally:
                # A failed step ends the drill: no order is left being placed.
                stop.set()
                if not placing.done():
                    placing.cancel()
            say(f"{len(accepted)} orders accepted; waiting for every saga to finish …")
            figures = await settle(api, accepted, swap.started, SETTLE_WITHIN)
        figures.placed = len(accepted)
        figures.retried_posts = retried
        return figures, swap
    finally:
        cluster.stop()
        postgres.stop()


def listed(versions: dict[str, str]) -> str:
    return ", ".join(f"{database} {version}" for database, version in versions.items())


def record(figures: Figures, swap: Swap, rate: float) -> str:
    lost = figures.accepted - figures.terminal
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in swap.steps.items())
    in_flight = ", ".join(f"{name} {count}" for name, count in swap.in_flight_at_stop.items())
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(figures.statuses.items()))
    return (
        f"Recorded run ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `make upgrade-drill`, this "
        f"2-CPU machine):\n\n"
        f"| figure | value |\n|---|---|\n"
        f"| before | {', '.join(swap.versions_before)}; schemas {listed(swap.schema_before)} |\n"
        f"| after | {', '.join(swap.versions_after)}; schemas {listed(swap.schema_after)} |\n"
        f"| swap, start to end | {swap.finished - swap.started:.1f} s ({steps}) |\n"
        f"| load | {rate:g} orders/s through the API, before, during and after the swap |\n"
        f"| sagas in flight when the swap began | {swap.in_flight_at_start} |\n"
        f"| sagas in flight as each node was stopped | {in_flight} |\n"
        f"| orders accepted | {figures.accepted} ({figures.retried_posts} POSTs answered 503 "
        f"and sent again) |\n"
        f"| terminal | {figures.terminal} ({statuses}) |\n"
        f"| lost | {lost} |\n"
        f"| double charges, confirmed without a charge | {figures.double_charges}, "
        f"{figures.missing_charges} |\n"
        f"| last saga finished | {figures.recovery_seconds:.1f} s after the swap began |\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster.upgrade_drill")
    parser.add_argument("--orders-per-second", type=float, default=3.0)
    parser.add_argument("--run-dir", type=Path, help="kept afterwards (default: a temp folder)")
    parser.add_argument("--no-record", action="store_true", help="leave docs/upgrade.md alone")
    args = parser.parse_args()
    # A declined card is an expected outcome, not news: the SDK's per-activity warnings
    # would bury the drill's own progress.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
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
