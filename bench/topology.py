"""The stack the benchmark measures, configured as a deployment runs it, and its clients.

What a deployment has on, the product phase has on (the Helm chart deploy/helm/order-saga,
docker-compose.temporal.yml): production settings and their checks (with the demo
allowance for the one broker, the simulated provider and log-only notices), RS256 tokens
verified against an issuer's JWKS, payloads encrypted by the codec with a key of the run's own,
the tracing interceptor and library instrumentation (spans exist; no OTLP endpoint is
configured, as in the shipped Helm chart), JSON logs at INFO, a Prometheus endpoint on every
process and the Temporal SDK's own on every worker, one worker process per task queue.
Only the liveness/readiness probe listeners stay off: nothing here would poll them.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from temporalio.client import Client

from bench.bare_workflow import BareQueues
from bench.config import BenchConfig
from bench.measure import OrderClient
from bench.memory import PeakRss
from bench.progress import Progress
from clients.temporal import connect_temporal
from devstack import deployed
from devstack.stack import Stack, StackOptions

BARE_PREFIX = "bare-"


def deployed_stack(config: BenchConfig) -> Stack:
    return Stack(
        StackOptions.deployed(
            config.run_dir / f"stack-{uuid.uuid4().hex[:6]}",
            metrics=True,
            local_issuer=True,
            # Production's checks, with the demo parts a one-machine run has (one broker, the
            # simulated provider, notices to the log) named by the allowance; production
            # refuses the namespace "default", so the run registers one of its own.
            namespace="orders",
            extra_env={
                "ORDERS_ENVIRONMENT": "production",
                "ORDERS_DEMO_ALLOWANCE": "true",
                "ORDERS_TELEMETRY__LOG_JSON": "true",
            },
        )
    )


def project_pids(stack: Stack) -> dict[str, int]:
    """The project's own processes (not Temporal, PostgreSQL, Kafka or the provider)."""
    return {
        name: pid
        for name, pid in stack.pids().items()
        if name == "api" or name.startswith("worker-") or name == "outbox-relay"
    }


def create_product(stack: Stack) -> str:
    return deployed.create_product(stack, "Benchmark beans", "sku-bench")


@dataclass
class Bench:
    """A started stack and what drives it: the limit's plain client, the shop front."""

    stack: Stack
    plain: Client
    orders: OrderClient
    rss: PeakRss
    progress: Progress
    bare_queues: BareQueues = field(default_factory=lambda: BareQueues.with_prefix(BARE_PREFIX))


@asynccontextmanager
async def running_bench(
    config: BenchConfig, progress: Progress, *, bare: bool = True
) -> AsyncIterator[Bench]:
    stack = deployed_stack(config)
    progress.say(f"starting Temporal, PostgreSQL, Kafka and the rest in {stack.options.run_dir}")
    try:
        stack.start_services()
        settings = deployed.temporal_settings(stack)
        if bare:
            # The limit's worker: its own process, plain client, all four queues; started
            # now so that it gets ready while the database is migrated.
            args = [sys.executable, "-m", "bench.bare", "--address", settings.addresses[0]]
            args += ["--namespace", settings.namespace, "--prefix", BARE_PREFIX]
            stack.spawn("bare-worker", args)
        progress.say("migrating the database")
        stack.prepare_database()
        progress.say("starting the API, one worker process per queue and the relay")
        stack.start_processes()
        metrics = {n: url for n, url in stack.metrics_urls.items() if not n.startswith("bare")}
        for name, address in {**stack.addresses(), **metrics}.items():
            progress.say(f"  {name}: {address}")
        assert stack.issuer is not None, "the benchmark's API trusts only its local issuer"
        token = deployed.customer_token(stack, "bench-customer", "bench@example.com")
        plain = await Client.connect(settings.addresses[0], namespace=settings.namespace)
        product = await connect_temporal(settings)
        with PeakRss(stack.pids) as rss:
            async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as http:
                orders = OrderClient(http, product, token, create_product(stack))
                yield Bench(stack, plain, orders, rss, progress)
    finally:
        progress.say("stopping the stack")
        stack.stop()
