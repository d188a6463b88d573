"""docs/upgrade.md is executed: every ``sh`` block of sections 1 to 3, in order, as one shell
session (tests/e2e/test_runbook.py's), against the session's two-node cluster (mTLS) and a
database of this test's own, with real orders in flight through the API.

The session starts with what the runbook's conventions say an operator has: the service's
settings (``ORDERS_*``, as its processes get them), ``OLD_BUILD``, ``NEW_BUILD`` and
``LOGS``. Build A is deployed first with the runbook's own start and promote blocks; then
the blocks roll out B, check the migrations, and roll back to A. Orders placed while A is
current wait in PAYMENT_PENDING for their customer (the simulated provider's ledger is a
file every payments pool shares) across B's promotion, and must finish on A once the
customer acts; orders placed after it finish on B (every workflow task of a saga completed
by that build). The rollback is checked the same way the other way round. The ``sh drill``
blocks of section 4 are left to ``make upgrade-drill``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from api import create_app
from config.settings import PaymentSettings, Settings, TemporalSettings
from devstack.temporal import temporal_cli
from gateways.simulated_payment import SimulatedPaymentGateway
from persistence.database import create_engine, session_factory
from persistence.seed import seed_catalog
from tests.e2e.harness import CATALOG, Api, e2e_settings
from tests.e2e.test_runbook import Session
from tools.customer_action import complete_customer_action

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "upgrade.md"
# Plain ``sh`` only: ``sh drill`` blocks (section 4) need a second server build.
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
OLD, NEW = "build-a", "build-b"
# A payment that needs the customer: the saga waits in PAYMENT_PENDING until the test
# plays the customer, so it is in flight across a promotion however fast the machine is.
WAITS_FOR_CUSTOMER = "tok_threeDSecureRequired"
ORDERS_PER_STEP = 3
CUSTOMER = "upgrade-customer"


def blocks() -> list[str]:
    return BLOCK.findall(RUNBOOK.read_text())


def service_env(settings: Settings) -> dict[str, str]:
    """The settings as the service's processes get them (ORDERS_*)."""
    temporal = settings.temporal
    exported = {
        "address": temporal.address,
        "namespace": temporal.namespace,
        "task_queue_prefix": temporal.task_queue_prefix,
        "tls_client_cert_path": temporal.tls_client_cert_path,
        "tls_client_key_path": temporal.tls_client_key_path,
        "tls_server_ca_path": temporal.tls_server_ca_path,
        "tls_server_name": temporal.tls_server_name,
        "failover_probe_seconds": str(temporal.failover_probe_seconds),
    }
    return {
        "PYTHONUNBUFFERED": "1",
        "ORDERS_ENVIRONMENT": settings.environment,
        "ORDERS_DATABASE__URL": settings.database.url,
        "ORDERS_PAYMENTS__SIMULATED_LEDGER_PATH": settings.payments.simulated_ledger_path,
        **{f"ORDERS_TEMPORAL__{name.upper()}": value for name, value in exported.items()},
    }


@asynccontextmanager
async def api_only(settings: Settings) -> AsyncIterator[Api]:
    """The API in-process (lifespan started) with no worker of its own: the runbook's
    processes are the only pollers of the test's task queues."""
    app = create_app(settings)
    engine = create_engine(settings.database)
    sessions = session_factory(engine)
    try:
        await seed_catalog(sessions, CATALOG)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=60
            ) as http,
        ):
            yield Api(http, app, settings, sessions, SimulatedPaymentGateway())
    finally:
        await engine.dispose()


async def place(api: Api, count: int, token: str = "tok_visa") -> list[str]:
    ids = []
    for _ in range(count):
        placed = await api.place(CUSTOMER, token=token)
        assert placed.status_code == 202, placed.text
        ids.append(placed.json()["order_id"])
    return ids


async def waiting_for_customer(api: Api, count: int) -> list[str]:
    ids = await place(api, count, WAITS_FOR_CUSTOMER)
    for order_id in ids:
        await api.wait_for(order_id, CUSTOMER, {"PAYMENT_PENDING"})
    return ids


async def still_running(client: Client, order_ids: list[str]) -> int:
    count = 0
    for order_id in order_ids:
        described = await client.get_workflow_handle(f"order-{order_id}").describe()
        count += described.status == WorkflowExecutionStatus.RUNNING
    return count


async def customer_acts(ledger: SimulatedPaymentGateway, client: Client, ids: list[str]) -> None:
    for order_id in ids:
        await complete_customer_action(ledger, client, order_id, succeed=True)


async def builds_of(client: Client, order_id: str) -> set[str]:
    """The build of every workflow task the saga completed."""
    history = await client.get_workflow_handle(f"order-{order_id}").fetch_history()
    return {
        event.workflow_task_completed_event_attributes.deployment_version.build_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    }


async def finished_on(api: Api, client: Client, order_ids: list[str]) -> dict[str, set[str]]:
    for order_id in order_ids:
        await api.wait_for(order_id, CUSTOMER, {"CONFIRMED"})
    return {order_id: await builds_of(client, order_id) for order_id in order_ids}


def stop_left_over_pools(logs: Path) -> None:
    """SIGTERM the pools the pid files still list (the current build's, or any a failed
    block left), and wait until they have drained and exited."""
    pids = [int(pid) for path in logs.glob("workers-*.pids") for pid in path.read_text().split()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if alive(pid)]
        time.sleep(0.2)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# Twelve worker processes and a dozen CLI runs: 2.5 to 5 minutes measured on this 2-CPU machine
# shared with other work; the default per-test timeout (300 s) is too close.
@pytest.mark.timeout(600)
async def test_the_upgrade_runbook_rolls_out_build_b_and_back_with_each_saga_on_its_build(
    temporal_settings: TemporalSettings, temporal_client: Client, pg_url: str, tmp_path: Path
) -> None:
    ledger_path = tmp_path / "provider-ledger.sqlite"
    settings = e2e_settings(
        pg_url, temporal_settings, payments=PaymentSettings(simulated_ledger_path=str(ledger_path))
    )
    ledger = SimulatedPaymentGateway(ledger_path=ledger_path)
    logs = tmp_path / "logs"
    found = blocks()
    assert len(found) == 10, found
    (conventions, start, promote, drain_old, stop_old, revision, migrate) = found[:7]
    start_old, promote_old, drain_new = found[7:]
    # Each block is the step this test takes it for (the runbook's order changed otherwise).
    roles = {
        start: 'python -m "workers.',
        promote: 'promote --build-id "$NEW_BUILD"',
        drain_old: 'wait-drained --build-id "$OLD_BUILD"',
        stop_old: "kill $pids",
        revision: "alembic current",
        migrate: "python -m tools.bootstrap",
        start_old: 'ORDERS_WORKERS__BUILD_ID="$OLD_BUILD"',
        promote_old: 'promote --build-id "$OLD_BUILD"',
        drain_new: 'wait-drained --build-id "$NEW_BUILD"',
    }
    assert [phrase for block, phrase in roles.items() if phrase not in block] == []
    session = Session(
        {
            **{k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")},
            **service_env(settings),
            "PATH": f"{temporal_cli().parent}:{os.environ['PATH']}",
            "OLD_BUILD": OLD,
            "NEW_BUILD": NEW,
            "LOGS": str(logs),
            # A deployment of this test's own: the session's cluster is shared, and another
            # test (the chart's pods) may already have promoted a build of `order-saga`.
            "ORDERS_WORKERS__DEPLOYMENT_NAME": f"order-saga-{uuid.uuid4().hex[:8]}",
        },
        ROOT,
        tmp_path / "runbook-env",
        # A promote block waits (--wait 120) for four worker processes to start and poll.
        timeout=240,
    )
    try:
        async with api_only(settings) as api:
            said = await session.run(conventions)
            assert "none yet" in said  # no versioned worker has polled these queues
            # Build A goes out as the runbook rolls out any build.
            session.env["NEW_BUILD"] = OLD
            await session.run(start)
            await session.run(promote)
            session.env["NEW_BUILD"] = NEW
            # 1. Roll out B: A's sagas wait across B's promotion, then finish on A.
            await session.run(start)
            on_old = await waiting_for_customer(api, ORDERS_PER_STEP)
            promoted = await session.run(promote)
            running_on_old = await still_running(temporal_client, on_old)
            on_new = await place(api, ORDERS_PER_STEP)
            await customer_acts(ledger, temporal_client, on_old)
            drained = await session.run(drain_old)
            stopped = await session.run(stop_old)
            first_rollout = await finished_on(api, temporal_client, on_old + on_new)
            # 2. Migrations: the database is at this build's head, and stays there.
            revisions = await session.run(revision)
            await session.run(migrate)
            # 3. Roll back to A while sagas wait on B: they finish on B, new ones start on A.
            await session.run(start_old)
            still_on_new = await waiting_for_customer(api, ORDERS_PER_STEP)
            rolled_back = await session.run(promote_old)
            running_on_new = await still_running(temporal_client, still_on_new)
            back_on_old = await place(api, ORDERS_PER_STEP)
            await customer_acts(ledger, temporal_client, still_on_new)
            await session.run(drain_new)
            rollback = await finished_on(api, temporal_client, still_on_new + back_on_old)
    finally:
        stop_left_over_pools(logs)
        ledger.close()
    assert f":{NEW} is current" in promoted
    assert running_on_old == ORDERS_PER_STEP  # in flight across the promotion
    assert running_on_new == ORDERS_PER_STEP
    assert "drained" in drained
    assert f"current: {NEW}" in stopped
    assert all(first_rollout[order_id] == {OLD} for order_id in on_old), first_rollout
    assert all(first_rollout[order_id] == {NEW} for order_id in on_new), first_rollout
    assert "(head)" in revisions
    assert f":{OLD} is current" in rolled_back
    assert all(rollback[order_id] == {NEW} for order_id in still_on_new), rollback
    assert all(rollback[order_id] == {OLD} for order_id in back_on_old), rollback
    # The runbook stopped every pool it started but the current build's.
    assert [path.name for path in logs.glob("workers-*.pids")] == [f"workers-{OLD}.pids"]
