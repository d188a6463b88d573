"""How each fault is done to the running stack. Each returns a note for the report.

Killed processes of our own are brought back by the run's supervisor (as ``make dev``'s);
the services (PostgreSQL, Kafka, Temporal, SMTP) are stopped and started here, on the same
ports with the same data.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable

import psutil
import psycopg

from config.settings import load_settings
from devstack.kafka_cluster import KafkaCluster
from faults.harness import Harness
from faults.provider import provider_outage
from outbox.lease import APPLICATION_NAME


class ExpectationError(Exception):
    """The fault itself did not behave as written down (e.g. a drain took too long)."""


Injection = Callable[[Harness, float], Awaitable[str]]


def kill_process(name: str) -> Injection:
    async def inject(h: Harness, _: float) -> str:
        process = h.stack.processes[name]
        pid = process.pid
        await asyncio.to_thread(process.kill)
        return f"pid {pid} killed"

    return inject


async def kill_relay_leader(h: Harness, _: float) -> str:
    relays = {n: p for n, p in h.stack.processes.items() if n.startswith("outbox-relay")}
    port = _lease_client_port(h.conninfo)
    for name, process in relays.items():
        if port is not None and _has_local_port(process.pid, port):
            await asyncio.to_thread(process.kill)
            return f"{name} (pid {process.pid}) held the lease and was killed"
    raise RuntimeError(f"no relay holds the lease (client port {port})")


def _lease_client_port(conninfo: str) -> int | None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = %s",
            (APPLICATION_NAME,),
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _has_local_port(pid: int, port: int) -> bool:
    try:
        return any(c.laddr and c.laddr.port == port for c in psutil.Process(pid).net_connections())
    except psutil.Error:
        return False


async def kill_one_broker(h: Harness, outage: float) -> str:
    cluster = h.stack.kafka
    assert isinstance(cluster, KafkaCluster)
    node = cluster.nodes[-1]
    await asyncio.to_thread(node.kill)
    await asyncio.sleep(outage)
    started = time.monotonic()
    await asyncio.to_thread(node.start)
    return f"broker {node.node_id} down {outage:g} s, back in {time.monotonic() - started:.1f} s"


async def stop_all_brokers(h: Harness, outage: float) -> str:
    cluster = h.stack.kafka
    assert cluster is not None
    await asyncio.to_thread(cluster.stop)
    await asyncio.sleep(outage)
    started = time.monotonic()
    await asyncio.to_thread(cluster.start)
    return f"all brokers down {outage:g} s, back in {time.monotonic() - started:.1f} s"


def restart_postgres(*, immediate: bool) -> Injection:
    async def inject(h: Harness, _: float) -> str:
        pg = h.stack.postgres
        assert pg is not None
        started = time.monotonic()
        await asyncio.to_thread(pg.stop_immediately if immediate else pg.stop)
        await asyncio.to_thread(pg.start)
        return f"down {time.monotonic() - started:.1f} s"

    return inject


async def restart_temporal(h: Harness, _: float) -> str:
    server = h.stack.temporal
    assert server is not None
    started = time.monotonic()
    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.start)
    return f"dev server down {time.monotonic() - started:.1f} s"


async def smtp_down(h: Harness, outage: float) -> str:
    before = h.mail.mailbox.accepted
    await asyncio.to_thread(h.mail.stop)
    await asyncio.sleep(outage)
    await asyncio.to_thread(h.mail.start)
    return f"down {outage:g} s ({before} mails accepted before)"


async def provider_down(h: Harness, outage: float) -> str:
    budget = outage / 2  # orders placed in the first half run out of it during the outage
    async with provider_outage(h, budget):
        await asyncio.sleep(outage)
    return f"provider down {outage:g} s, charge budget {budget:g} s"


async def sigterm_payments(h: Harness, _: float) -> str:
    process = h.stack.processes["worker-payments"]
    h.supervisor.forget("worker-payments")  # the drain is timed here, then restarted here
    started = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    code = await asyncio.to_thread(process.wait, 120)
    drained = time.monotonic() - started
    await asyncio.to_thread(process.start)
    h.supervisor.watch("worker-payments", process, process.describe_exit)
    grace = load_settings().workers.graceful_shutdown_seconds
    note = f"drained and exited ({code}) in {drained:.1f} s (grace {grace:g} s)"
    # the process also needs a moment to stop its clients after the drain
    if drained > grace + 5.0:
        raise ExpectationError(f"not within the grace period: {note}")
    return note


def injection(name: str) -> Injection:
    if name.startswith("kill-9 worker-"):
        return kill_process(name.removeprefix("kill-9 "))
    return {
        "kill-9 api mid-POST": kill_process("api"),
        "kill-9 relay leader": kill_relay_leader,
        "kill-9 one kafka broker": kill_one_broker,
        "all kafka brokers stopped": stop_all_brokers,
        "postgres fast restart": restart_postgres(immediate=False),
        "postgres immediate stop": restart_postgres(immediate=True),
        "temporal restart": restart_temporal,
        "smtp down": smtp_down,
        "payment provider down past the charge budget": provider_down,
        "sigterm worker-payments mid-activity": sigterm_payments,
    }[name]
