"""Worker Versioning on the two-node mTLS cluster: a new build with a changed saga path
and no patch, while build A's sagas are still in flight (docs/versioning.md).

Build A runs the production saga, build B ``ChangedOrderSaga`` (a timer before the first
step: an A history replayed on it would fail with nondeterminism). Each build has its own
pools on all four queues and its own payment provider, so which build ran a saga's
activities is the provider that charged it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import VersioningBehavior
from temporalio.worker import Worker

from config.settings import NotificationSettings, Settings, TemporalSettings, WorkerSettings
from gateways.simulated_payment import SimulatedPaymentGateway
from messages import queues
from messages.queues import TaskQueues, order_workflow_id
from messages.saga import OrderSagaInput, SagaResult
from tests.cluster.changed_saga import ChangedOrderSaga
from tests.fixtures.smtp import SmtpServer
from tests.integration.saga_data import add_product, snapshot
from tools.deploy import DeployError, Deployments
from workers.runner import build_workers
from workflows import WORKFLOWS
from workflows.order_saga import OrderSaga

SagaHandle = WorkflowHandle[OrderSaga, SagaResult]
# Long enough that A's sagas are still charging when B is promoted.
A_CHARGE_SECONDS = 6.0


def deploy_tool(settings: Settings, *args: str, timeout: float = 90) -> tuple[int, str]:
    """``python -m tools.deploy`` with this test's Temporal settings, as an operator runs it."""
    temporal = settings.temporal
    env = {
        **os.environ,
        "ORDERS_TEMPORAL__ADDRESS": temporal.address,
        "ORDERS_TEMPORAL__NAMESPACE": temporal.namespace,
        "ORDERS_TEMPORAL__TASK_QUEUE_PREFIX": temporal.task_queue_prefix,
        "ORDERS_TEMPORAL__TLS_CLIENT_CERT_PATH": temporal.tls_client_cert_path,
        "ORDERS_TEMPORAL__TLS_CLIENT_KEY_PATH": temporal.tls_client_key_path,
        "ORDERS_TEMPORAL__TLS_SERVER_CA_PATH": temporal.tls_server_ca_path,
        "ORDERS_TEMPORAL__TLS_SERVER_NAME": temporal.tls_server_name,
        "ORDERS_WORKERS__DEPLOYMENT_NAME": settings.workers.deployment_name,
    }
    done = subprocess.run(
        [sys.executable, "-m", "tools.deploy", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


async def started_on(client: Client, settings: Settings, n: int) -> list[SagaHandle]:
    queue_names = TaskQueues.with_prefix(settings.temporal.task_queue_prefix)
    handles = []
    for _ in range(n):
        order = snapshot(("sku-versioned", 1))
        handles.append(
            await client.start_workflow(
                OrderSaga.run,
                OrderSagaInput(order=order, queues=queue_names),
                id=order_workflow_id(order.order_id),
                task_queue=queue_names.orders,
            )
        )
    return handles


async def builds_of(handle: SagaHandle) -> tuple[set[str], bool, list[str]]:
    """The builds that completed the saga's workflow tasks, whether it started with B's
    timer, and every workflow task failure in its history."""
    builds: set[str] = set()
    failures: list[str] = []
    first_command = None
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            builds.add(event.workflow_task_completed_event_attributes.deployment_version.build_id)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failures.append(str(event.workflow_task_failed_event_attributes.failure.message))
        if first_command is None and event.event_type in {
            EventType.EVENT_TYPE_TIMER_STARTED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        }:
            first_command = event.event_type
    return builds, first_command == EventType.EVENT_TYPE_TIMER_STARTED, failures


async def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds}s"
        await asyncio.sleep(0.1)


async def test_sagas_finish_on_the_build_that_started_them_and_the_old_build_drains(
    temporal_client: Client,
    temporal_settings: TemporalSettings,
    pg_engine: AsyncEngine,
    pg_sessions: async_sessionmaker[AsyncSession],
    smtp_server: SmtpServer,
) -> None:
    """A's sagas, in flight when B (a changed saga path, no patch) is promoted, finish on A;
    new sagas run B's path on B; no workflow task fails; ``tools.deploy wait-drained`` ends
    once A's sagas end, and A's workers stop."""
    deployment = f"order-saga-{uuid.uuid4().hex[:8]}"

    def settings_of(build_id: str) -> Settings:
        return Settings(
            temporal=temporal_settings.model_copy(update={"task_queue_prefix": f"{deployment}-"}),
            workers=WorkerSettings(deployment_name=deployment, build_id=build_id),
            notifications=NotificationSettings(
                channel="smtp", smtp_host=smtp_server.host, smtp_port=smtp_server.port
            ),
        )

    settings_a, settings_b = settings_of("A"), settings_of("B")
    provider_a = SimulatedPaymentGateway(latency_seconds=A_CHARGE_SECONDS)
    provider_b = SimulatedPaymentGateway()
    await add_product(pg_sessions, "sku-versioned", stock=100)

    def workers_of(
        settings: Settings, provider: SimulatedPaymentGateway, saga: type
    ) -> list[Worker]:
        return build_workers(
            list(queues.ALL),
            temporal_client,
            pg_engine,
            settings,
            payment_gateway=provider,
            workflows=[saga, *(w for w in WORKFLOWS if w is not OrderSaga)],
        )

    deployments = Deployments(temporal_client, settings_a)
    async with AsyncExitStack() as build_a, AsyncExitStack() as build_b:
        for worker in workers_of(settings_a, provider_a, OrderSaga):
            await build_a.enter_async_context(worker)
        status, out = await asyncio.to_thread(deploy_tool, settings_a, "promote", "--build-id", "A")
        assert status == 0, out
        on_a = await started_on(temporal_client, settings_a, 3)
        await wait_for(lambda: provider_a.calls >= len(on_a), 30, "A's sagas charging")

        with pytest.raises(DeployError, match=f"no poller on {deployment}-orders"):
            await deployments.promote("B")

        for worker in workers_of(settings_b, provider_b, ChangedOrderSaga):
            await build_b.enter_async_context(worker)
        status, out = await asyncio.to_thread(deploy_tool, settings_b, "promote", "--build-id", "B")
        assert status == 0, out
        assert "is current" in out, out
        draining = asyncio.create_task(
            asyncio.to_thread(
                deploy_tool, settings_a, "wait-drained", "--build-id", "A", "--timeout", "90"
            )
        )
        on_b = await started_on(temporal_client, settings_b, 3)

        results = await asyncio.gather(*(h.result() for h in [*on_a, *on_b]))
        a_ended = time.monotonic()
        assert [r.status for r in results] == ["CONFIRMED"] * 6, results
        status, out = await draining
        assert status == 0, out
        assert "is drained" in out, out
        await build_a.aclose()  # A's workers stop: nothing is pinned to them
        assert time.monotonic() >= a_ended

        for handle in on_a:
            builds, changed_path, failures = await builds_of(handle)
            assert builds == {"A"}, (handle.id, builds)
            assert not changed_path, handle.id
            assert failures == [], (handle.id, failures)
            assert provider_a.charge_count(handle.id) == 1
            assert provider_b.charge_count(handle.id) == 0
        for handle in on_b:
            builds, changed_path, failures = await builds_of(handle)
            assert builds == {"B"}, (handle.id, builds)
            assert changed_path, handle.id
            assert failures == [], (handle.id, failures)
            info = (await handle.describe()).raw_description.workflow_execution_info
            assert info.versioning_info.behavior == VersioningBehavior.PINNED.value
            assert provider_b.charge_count(handle.id) == 1

        status, out = await asyncio.to_thread(deploy_tool, settings_b, "status")
        assert status == 0, out
        assert "current: B" in out, out
