"""Builds the worker for each task queue from Settings and runs them until SIGTERM.

Each queue has its own process entry point (``python -m workers.inventory`` …) so a
platform can scale the pools separately; ``python -m workers`` runs them all for dev.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig

from activities.inventory import InventoryActivities
from activities.notifications import NotificationActivities
from activities.order_status import OrderStatusActivities
from activities.payments import PaymentActivities
from activities.refunds import RefundPayments, StockReturns
from clients.temporal import build_runtime, connect_temporal
from clients.temporal_failover import FrontendFailover
from config.settings import Settings, WorkerSettings, load_settings
from gateways.factory import build_payment_gateway
from gateways.notification_channels import build_channel
from gateways.payment_gateway import PaymentGateway
from messages import queues
from messages.queues import TaskQueues
from persistence.database import create_engine, session_factory
from persistence.payment_intents import SqlIntentLog
from telemetry.probes import start_probes
from telemetry.setup import announce_demo_allowance, configure_telemetry, worker_service
from workers.bindings import queue_activities
from workers.failures import ShortFailures
from workers.health import WorkerHealth
from workers.sandbox import runner_for
from workflows import WORKFLOWS

log = logging.getLogger(__name__)


def build_workers(
    queue_names: Sequence[str],
    client: Client,
    engine: AsyncEngine | None,
    settings: Settings,
    payment_gateway: PaymentGateway | None = None,
    *,
    workflows: Sequence[type] = WORKFLOWS,
) -> list[Worker]:
    """Workers for the logical queues named (``orders``, ``inventory``, …).

    ``payment_gateway`` replaces the one Settings describe (tests hold the provider);
    ``workflows`` the orders worker's definitions (a test's changed saga).
    """
    limits = settings.workers
    deployment = deployment_config(limits)
    task_queues = TaskQueues.with_prefix(settings.temporal.task_queue_prefix)
    grace = timedelta(seconds=limits.graceful_shutdown_seconds)
    sessions = session_factory(engine) if engine is not None else None
    workers: list[Worker] = []
    for name in queue_names:
        if name == queues.ORDERS:
            workers.append(
                Worker(
                    client,
                    task_queue=task_queues.orders,
                    workflows=list(workflows),
                    workflow_runner=runner_for(lean=limits.lean_workflow_runner),
                    max_concurrent_workflow_tasks=limits.orders_max_concurrent_workflow_tasks,
                    graceful_shutdown_timeout=grace,
                    deployment_config=deployment,
                )
            )
            continue
        assert sessions is not None, "activity queues need the database"
        implementations = queue_implementations(name, sessions, settings, payment_gateway)
        concurrency = {
            queues.INVENTORY: limits.inventory_max_concurrent_activities,
            queues.PAYMENTS: limits.payments_max_concurrent_activities,
            queues.NOTIFICATIONS: limits.notifications_max_concurrent_activities,
        }[name]
        activities = queue_activities(name, implementations)
        workers.append(
            Worker(
                client,
                task_queue=getattr(task_queues, name),
                activities=activities,
                max_concurrent_activities=concurrency,
                interceptors=[ShortFailures()],
                graceful_shutdown_timeout=grace,
                deployment_config=deployment,
            )
        )
    return workers


def deployment_config(limits: WorkerSettings) -> WorkerDeploymentConfig | None:
    """The Worker Deployment version every pool of this process polls as, when versioned.

    Activity pools declare it too: a pinned saga's activities go to its own build's pools.
    Every workflow is pinned: a saga, a refund and a restock finish on the build that
    started them (docs/versioning.md). The behaviour is the worker's default rather than
    each ``@workflow.defn``'s, because the server (1.32) refuses a workflow task that states
    a behaviour from an unversioned worker, and make dev and the tests run unversioned.
    """
    if not limits.versioned:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(
            deployment_name=limits.deployment_name, build_id=limits.build_id
        ),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


def queue_implementations(
    name: str,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    payment_gateway: PaymentGateway | None = None,
) -> list[object]:
    """The activity implementations a logical queue's worker holds; which of their
    activities it serves is the contract's ``QUEUE_CONTRACTS``."""
    if name == queues.INVENTORY:
        return [InventoryActivities(sessions, settings.restock), StockReturns(sessions)]
    if name == queues.PAYMENTS:
        gateway = payment_gateway or build_payment_gateway(
            settings.payments, intents=SqlIntentLog(sessions)
        )
        return [PaymentActivities(sessions, gateway), RefundPayments(sessions, gateway)]
    if name == queues.NOTIFICATIONS:
        return [
            NotificationActivities(sessions, build_channel(settings.notifications)),
            OrderStatusActivities(sessions),
        ]
    raise ValueError(f"unknown task queue {name!r}; expected one of {queues.ALL}")


async def run_workers(queue_names: Sequence[str], settings: Settings) -> None:
    sdk_metrics = settings.temporal.metrics_bind_address
    runtime = build_runtime(settings.temporal)
    client = await connect_temporal(settings.temporal, runtime=runtime)
    if sdk_metrics:
        log.info("Temporal SDK metrics on http://%s/metrics", sdk_metrics)
    needs_db = any(name != queues.ORDERS for name in queue_names)
    engine = create_engine(settings.database) if needs_db else None
    workers = build_workers(queue_names, client, engine, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = [asyncio.create_task(worker.run()) for worker in workers]
    watching = asyncio.create_task(
        FrontendFailover(
            settings.temporal, client, lambda new: use_client(workers, new), runtime
        ).run()
    )
    health = WorkerHealth(client, workers)
    health.watch(running)
    probes = start_probes(settings.telemetry, health, loop, extra={"/pollers": health.pollers})
    version = (
        f" as {settings.workers.deployment_name}:{settings.workers.build_id}"
        if settings.workers.versioned
        else " (unversioned)"
    )
    log.info(
        "workers polling %s on %s%s", ", ".join(queue_names), settings.temporal.address, version
    )
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopped, *running], return_when=asyncio.FIRST_COMPLETED)
    # Graceful: stop polling, let in-flight activities finish within the configured grace.
    log.info("shutting down workers")
    if probes is not None:
        probes.stop()
    await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
    for task in running:
        if task in done and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    stopped.cancel()
    watching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watching
    if engine is not None:
        await engine.dispose()


def use_client(workers: Sequence[Worker], client: Client) -> None:
    """Point every worker at another frontend (the SDK swaps the client under its pollers)."""
    for worker in workers:
        worker.client = client


def main(queue_names: Sequence[str]) -> None:
    settings = load_settings()
    configure_telemetry(settings.telemetry, service_name=worker_service(queue_names))
    announce_demo_allowance(settings)
    asyncio.run(run_workers(queue_names, settings))
    # Drained and shut down: end here. The Temporal SDK's native threads can still call
    # into Python while the interpreter finalizes, which aborts the process (SIGABRT, seen
    # after a clean SIGTERM drain) and would report a graceful stop as a crash.
    # os._exit skips atexit hooks: flush the spans still batched for export first.
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
