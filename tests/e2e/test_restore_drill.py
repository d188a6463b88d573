"""The restore drill (docs/backup.md): orders placed through the API and the production
workers on a durable PostgreSQL that archives its WAL with pgBackRest; a base backup; more
orders; a noted instant; more orders; the cluster destroyed (stopped as by a crash, its data
directory deleted); a restore to the noted instant. Exactly the orders committed before it
come back, each consistent with its saga, its events and the provider's books; the orders
after it are found by the reconcile command, from the provider's books, as recovery work.

It measures the recovery point (how long the last commits waited to be archived: at most
``archive_timeout``) and the recovery time (restore + start + replay), and prints both.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from config.settings import DatabaseSettings, TemporalSettings
from devstack.pgbackrest import BackupRepository, wait_until_promoted
from devstack.postgres import PostgresCluster
from gateways.payment_gateway import GatewayCharge
from gateways.simulated_payment import SimulatedPaymentGateway
from messages.queues import order_workflow_id
from messages.saga import SagaResult
from models.invariants import violations
from persistence.database import create_engine, session_factory
from persistence.migrate import upgrade
from persistence.payments import idempotency_key
from tests.e2e.harness import Api, running_api
from tests.fixtures.postgres import running_archived_cluster
from tests.integration.invariant_facts import facts_of
from tools.reconcile import unknown_charges

# Short, so the drill waits seconds for the last segment; production keeps the default (60 s).
ARCHIVE_TIMEOUT = 5
ORDERS_PER_PHASE = 3
# What Api.place orders: two bags of beans at 24.90.
TOTAL, UNITS = Decimal("49.80"), 2


@pytest.fixture
def archived(tmp_path: Path) -> Iterator[tuple[PostgresCluster, BackupRepository]]:
    """A cluster of this test's own, durable and archiving."""
    with running_archived_cluster(tmp_path, ARCHIVE_TIMEOUT) as running:
        yield running


async def _place(api: Api, client: Client, count: int) -> list[str]:
    """``count`` orders, each waited for until its saga has ended (nothing moves after)."""
    placed = await asyncio.gather(*(api.place("dora") for _ in range(count)))
    assert all(response.status_code == 202 for response in placed), [r.text for r in placed]
    order_ids = [response.json()["order_id"] for response in placed]
    for order_id in order_ids:
        result = await _saga_result(client, order_id)
        assert result.status == "CONFIRMED", result
    return order_ids


async def _saga_result(client: Client, order_id: str) -> SagaResult:
    handle = client.get_workflow_handle(order_workflow_id(order_id), result_type=SagaResult)
    result = await handle.result()
    assert isinstance(result, SagaResult)
    return result


def _database_clock(cluster: PostgresCluster) -> datetime:
    with psycopg.connect(cluster.conninfo()) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    value = row[0]
    assert isinstance(value, datetime)
    return value


def _seconds_until_archived(cluster: PostgresCluster, timeout: float) -> float:
    """From now until the WAL segment holding the last commit is in the repository: what a
    cluster lost now would lose at most (no forced switch: archive_timeout does it)."""
    started = time.monotonic()
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
        assert row is not None
        segment = str(row[0])
        while time.monotonic() - started < timeout:
            archived = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()
            if archived is not None and archived[0] is not None and str(archived[0]) >= segment:
                return time.monotonic() - started
            time.sleep(0.1)
    raise AssertionError(f"segment {segment} not archived within {timeout:.0f}s")


async def test_restore_to_an_instant_brings_back_exactly_the_orders_before_it_consistent(
    archived: tuple[PostgresCluster, BackupRepository],
    temporal_settings: TemporalSettings,
    temporal_client: Client,
) -> None:
    cluster, repository = archived
    url = cluster.create_database("orders")
    await asyncio.to_thread(upgrade, url)
    await asyncio.to_thread(repository.stanza_create)

    async with running_api(url, temporal_settings, temporal_client) as api:
        provider = api.gateway
        before_backup = await _place(api, temporal_client, ORDERS_PER_PHASE)
        backup = await asyncio.to_thread(repository.backup)
        after_backup = await _place(api, temporal_client, ORDERS_PER_PHASE)
        # pgBackRest restores from a backup whose stop time, in whole seconds, precedes the
        # target: at least a second after the backup.
        await asyncio.sleep(1.2)
        target = _database_clock(cluster)
        await asyncio.sleep(0.2)
        after_target = await _place(api, temporal_client, ORDERS_PER_PHASE)
        recovery_point = await asyncio.to_thread(
            _seconds_until_archived, cluster, ARCHIVE_TIMEOUT + 15
        )

    # The disaster: a crash, and the data directory gone with its disk.
    await asyncio.to_thread(cluster.stop_immediately)
    shutil.rmtree(cluster.data_dir)

    started = time.monotonic()
    restore = await asyncio.to_thread(repository.restore, target)
    await asyncio.to_thread(cluster.start)
    await asyncio.to_thread(wait_until_promoted, cluster)
    recovery_time = time.monotonic() - started
    # Archiving goes on, on the restored cluster's new timeline.
    await asyncio.to_thread(repository.run, "check")

    print(  # noqa: T201 - the drill's figures, for docs/backup.md
        f"\nrestore drill: full backup {backup.seconds:.1f}s; recovery point: last commits "
        f"archived {recovery_point:.1f}s later (archive_timeout {ARCHIVE_TIMEOUT}s); recovery "
        f"time {recovery_time:.1f}s (pgbackrest restore {restore.seconds:.1f}s, then start "
        "and replay to the target)"
    )
    # archive_timeout, plus the time archive-push takes on a busy machine.
    assert recovery_point <= ARCHIVE_TIMEOUT + 5

    engine = create_engine(DatabaseSettings(url=url, pool_size=2, max_overflow=0))
    try:
        work = await _recovery_work(
            engine, provider, temporal_client, before_backup + after_backup + after_target
        )
        every_charge = [
            await _charge(provider, order_id)
            for order_id in before_backup + after_backup + after_target
        ]
        unknown = await unknown_charges(engine, every_charge)
    finally:
        await engine.dispose()

    restored = {order_id for order_id, broken in work.items() if broken is not None}
    assert restored == set(before_backup + after_backup), work
    inconsistent = {order_id: broken for order_id, broken in work.items() if broken}
    assert not inconsistent, f"recovery work on restored orders: {inconsistent}"
    # The charges taken after the target are the restore's recovery work, found from the
    # provider's books: exactly the orders the restore took back.
    print("recovery work:\n" + "\n".join(f"  {item.line()}" for item in unknown))  # noqa: T201
    assert {item.order_id for item in unknown} == set(after_target)
    assert all(item.restored == "no such order" for item in unknown)


async def _charge(provider: SimulatedPaymentGateway, order_id: str) -> GatewayCharge:
    charge = await provider.find_charge(idempotency_key(order_id))
    assert charge is not None, order_id
    return charge


async def _recovery_work(
    engine: AsyncEngine, provider: SimulatedPaymentGateway, client: Client, order_ids: list[str]
) -> dict[str, list[str] | None]:
    """Per order: None when the restored database has no row of it; else every way its
    row, events, notices and reservations disagree with its saga and the provider's books
    (``models.invariants``), [] when they all agree."""
    sessions = session_factory(engine)
    work: dict[str, list[str] | None] = {}
    for order_id in order_ids:
        result = await _saga_result(client, order_id)
        facts = await facts_of(
            sessions, provider, order_id, total=TOTAL, units=UNITS, result=result
        )
        work[order_id] = None if facts.read_model is None else violations(facts)
    return work
