"""What a fault run holds while it runs: the stack, its supervisor, a mail server, a dedup
consumer reading every topic, and the order load."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import event
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from bench.load import OrderLoad
from clients.temporal import connect_temporal
from config.settings import DatabaseSettings, KafkaSettings
from devstack import deployed
from devstack.process import free_port
from devstack.stack import Stack, StackOptions
from devstack.supervisor import RestartPolicy, Supervisor
from faults.partition import Partitions
from faults.topology import FaultTopology
from outbox.cloudevents import ReceivedEvent
from outbox.consumer import InboxConsumer
from persistence.database import create_engine, session_factory

LOOPBACK = "127.0.0.1"
# The audit consumer rides out every broker fault; its reconnect chatter is not a finding.
logging.getLogger("outbox.consumer").setLevel(logging.CRITICAL)
CONSUMER = "fault-audit"


@dataclass
class Mailbox:
    """aiosmtpd's handler: counts what it accepted."""

    accepted: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802, ARG002
        self.accepted += 1
        return "250 Message accepted for delivery"


@dataclass
class MailServer:
    """A real SMTP server on a port of its own, which a fault may stop and start again."""

    port: int = field(default_factory=free_port)
    mailbox: Mailbox = field(default_factory=Mailbox)
    _controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.mailbox, hostname=LOOPBACK, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@dataclass
class Applied:
    """What the dedup consumer applied, counted only once its transaction committed."""

    counts: Counter[str] = field(default_factory=Counter)

    async def handler(self, session: AsyncSession, received: ReceivedEvent) -> None:
        event_id = str(received.event_id)

        def committed(_: object) -> None:
            self.counts[event_id] += 1

        event.listen(session.sync_session, "after_commit", committed, once=True)


@dataclass
class DedupConsumer:
    """The project's dedup consumer, run as a deployment runs it: a new instance (same group,
    same inbox) when one dies, and on :meth:`restart` (one that stopped making progress)."""

    make: Callable[[], InboxConsumer]
    say: Callable[[str], None]
    restarts: int = 0
    _current: asyncio.Event | None = None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            mine = self._current = asyncio.Event()
            consumer = self.make()
            runner = asyncio.create_task(consumer.run(mine))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            mine.set()
            stopper.cancel()
            # A synchronous offset commit can hang while the group's coordinator moves
            # between brokers; such an instance is left behind, as a pod would be replaced.
            done, _ = await asyncio.wait({runner}, timeout=10)
            if runner in done:
                if runner.exception() is not None:
                    self.say(f"dedup consumer died ({runner.exception()!r}); starting another")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(consumer.close(), 10)
            self.restarts += 1

    def restart(self) -> None:
        if self._current is not None:
            self.say("dedup consumer made no progress; starting another")
            self._current.set()


def fault_env(smtp_port: int, extra: dict[str, str]) -> dict[str, str]:
    return {
        "ORDERS_TELEMETRY__LOG_LEVEL": "WARNING",
        "ORDERS_NOTIFICATIONS__CHANNEL": "smtp",
        "ORDERS_NOTIFICATIONS__SMTP_HOST": LOOPBACK,
        "ORDERS_NOTIFICATIONS__SMTP_PORT": str(smtp_port),
        # charges take a while, so a kill lands while some are in flight
        "ORDERS_PAYMENTS__GATEWAY_LATENCY_MS": "200",
        **extra,
    }


def stack_options(run_dir: Path, smtp_port: int, extra: dict[str, str]) -> StackOptions:
    return StackOptions.deployed(run_dir, kafka_brokers=3, extra_env=fault_env(smtp_port, extra))


@dataclass
class Harness:
    stack: Stack
    mail: MailServer
    supervisor: Supervisor
    temporal: Client
    load: OrderLoad
    applied: Applied
    dedup: DedupConsumer
    say: Callable[[str], None]
    # The production topology (--production): its Temporal cluster, Toxiproxy, and the
    # partitions cut on it; None on the dev server.
    topology: FaultTopology | None = None
    partitions: Partitions | None = None
    # Nodes the run stops on purpose, which the node keeper must leave alone meanwhile.
    nodes_held: set[str] = field(default_factory=set)

    @property
    def cluster(self) -> FaultTopology:
        if self.topology is None:
            raise RuntimeError("this fault needs the production topology (--production)")
        return self.topology

    @property
    def conninfo(self) -> str:
        assert self.stack.postgres is not None
        return self.stack.postgres.conninfo("orders")

    def add_standby_relay(self) -> None:
        self.stack.spawn("outbox-relay-standby", [sys.executable, "-m", "outbox"])
        standby = self.stack.processes["outbox-relay-standby"]
        self.supervisor.watch("outbox-relay-standby", standby, standby.describe_exit)


async def _keep_nodes(h: Harness, stop: asyncio.Event) -> None:
    """Restarts a Temporal node that died (a kill -9, a crash), as the production stack's
    supervisor does, in a thread: a node takes seconds to answer and the load goes on."""
    cluster = h.cluster.temporal
    while not stop.is_set():
        for node in cluster.nodes:
            if node.name in h.nodes_held or node.alive():
                continue
            began = time.monotonic()
            h.say(f"    Temporal {node.name} is down; restarting it")
            await asyncio.to_thread(cluster.start_node, node)
            h.say(f"    Temporal {node.name} back in {time.monotonic() - began:.1f} s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def _supervise(supervisor: Supervisor, stop: asyncio.Event) -> None:
    while not stop.is_set():
        supervisor.poll()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


def _start(
    stack: Stack, topology: FaultTopology | None, mail: MailServer, say: Callable[[str], None]
) -> None:
    """Starts the stack (or the topology) and prints every address it serves."""
    if topology is not None:
        topology.start()
        say(topology.addresses())
    else:
        stack.start()
        for name, address in stack.addresses().items():
            say(f"  {name}: {address}")
        if stack.provider is not None:
            say(f"  payment provider: {stack.provider.url}")
    say(f"  SMTP: {LOOPBACK}:{mail.port}")


@contextlib.asynccontextmanager
async def running(
    run_dir: Path,
    extra_env: dict[str, str],
    say: Callable[[str], None],
    *,
    production: bool = False,
) -> AsyncIterator[Harness]:
    mail = MailServer()
    mail.start()
    topology: FaultTopology | None = None
    partitions = Partitions(say)
    if production:
        partitions.prepare()  # before the processes start: each in a cgroup of its own
        topology = FaultTopology(run_dir, fault_env(mail.port, extra_env), partitions.launcher)
        stack = topology.stack
        say(
            f"starting the production topology under {run_dir} (durable PostgreSQL, a two-node"
            " Temporal cluster over mTLS, Toxiproxy, 3 Kafka brokers) ..."
        )
    else:
        stack = Stack(stack_options(run_dir, mail.port, extra_env))
        say(f"starting the stack under {run_dir} (PostgreSQL, 3 Kafka brokers, Temporal) ...")
    try:
        await asyncio.to_thread(_start, stack, topology, mail, say)
        # Only the project's processes: the run stops and starts the services itself.
        supervisor = Supervisor(say, RestartPolicy(initial_backoff=0.5, max_backoff=5.0))
        for name, process in stack.processes.items():
            supervisor.watch(name, process, process.describe_exit)
        token = deployed.customer_token(stack, "fault-customer", "f@example.com")
        engine = create_engine(DatabaseSettings(url=stack.env["ORDERS_DATABASE__URL"]))
        applied = Applied()
        assert stack.kafka is not None
        topics = KafkaSettings()
        group = f"{CONSUMER}-{uuid.uuid4().hex[:6]}"

        def new_consumer() -> InboxConsumer:
            assert stack.kafka is not None
            return InboxConsumer.connect(
                CONSUMER,
                bootstrap_servers=stack.kafka.bootstrap_servers,
                topics=[
                    topics.order_topic,
                    topics.inventory_topic,
                    topics.payment_topic,
                    topics.notification_topic,
                ],
                sessions=session_factory(engine),
                handler=applied.handler,
                group_id=group,
            )

        dedup = DedupConsumer(new_consumer, say)
        stop = asyncio.Event()
        temporal = await connect_temporal(deployed.temporal_settings(stack))
        tasks = [
            asyncio.create_task(_supervise(supervisor, stop)),
            asyncio.create_task(dedup.run(stop)),
        ]
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as http:
            product = deployed.create_product(stack, "Fault-run beans", "sku-faults")
            load = OrderLoad(http, token, product)
            harness = Harness(
                stack, mail, supervisor, temporal, load, applied, dedup, say, topology, partitions
            )
            if topology is not None:
                tasks.append(asyncio.create_task(_keep_nodes(harness, stop)))
            try:
                yield harness
            finally:
                stop.set()
                await asyncio.wait(tasks, timeout=30)
                await engine.dispose()
    finally:
        # First: no rule of ours may outlive the run, whatever ended it.
        partitions.cleanup()
        await asyncio.to_thread(topology.stop if topology is not None else stack.stop)
        mail.stop()
