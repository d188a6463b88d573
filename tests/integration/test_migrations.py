"""The Alembic migrations against the SQLModel metadata, on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from config.settings import DatabaseSettings
from devstack.postgres import PostgresCluster
from persistence.database import create_engine
from persistence.migrate import (
    MIGRATION_LOCK_KEY,
    downgrade,
    head_revision,
    upgrade,
    upgrade_async,
)
from persistence.tables import metadata

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def tables_and_version(connection: Connection) -> tuple[set[str], str | None]:
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" not in tables:
        return tables, None
    version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return tables, version


@pytest.fixture
def empty_database(pg_cluster: PostgresCluster) -> Iterator[str]:
    """A database with no schema at all (not cloned from the migrated template)."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    url = pg_cluster.create_database(name)
    try:
        yield url
    finally:
        pg_cluster.drop_database(name)


async def test_migrated_schema_matches_the_metadata(pg_engine: AsyncEngine) -> None:
    """Alembic's compare_metadata finds no difference between the migrated database and
    the SQLModel tables: columns, types, nullability, indexes, unique constraints, FKs."""
    async with pg_engine.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_comparison_detects_drift(pg_engine: AsyncEngine) -> None:
    """The comparison is not vacuous: a column type and an index changed behind the
    metadata's back are both reported."""
    async with pg_engine.connect() as conn:
        await conn.execute(text("ALTER TABLE products ALTER COLUMN unit_price TYPE numeric(10,2)"))
        await conn.execute(text("DROP INDEX ix_orders_customer_id_created_at"))
        found = await conn.run_sync(differences)
        await conn.rollback()
    kinds = {entry[0][0] if isinstance(entry, list) else entry[0] for entry in found}
    assert kinds == {"modify_type", "add_index"}


async def test_downgrade_to_base_and_upgrade_again(pg_url: str, pg_engine: AsyncEngine) -> None:
    """The initial revision's downgrade removes every table, and upgrading again restores
    a schema identical to the metadata."""
    await asyncio.to_thread(downgrade, pg_url, "base")
    async with pg_engine.connect() as conn:
        tables, version = await conn.run_sync(tables_and_version)
    assert tables == {"alembic_version"}
    assert version is None

    await asyncio.to_thread(upgrade, pg_url)
    async with pg_engine.connect() as conn:
        tables, version = await conn.run_sync(tables_and_version)
        assert await conn.run_sync(differences) == []
    assert version == head_revision()


async def test_upgrade_async_migrates_through_an_app_engine(empty_database: str) -> None:
    """upgrade_async runs the migrations on an AsyncEngine the caller already has."""
    engine = create_engine(DatabaseSettings(url=empty_database))
    try:
        await upgrade_async(engine)
        async with engine.connect() as conn:
            tables, version = await conn.run_sync(tables_and_version)
            assert await conn.run_sync(differences) == []
    finally:
        await engine.dispose()
    assert set(metadata.tables) <= tables
    assert version == head_revision()


async def test_concurrent_upgrades_run_one_at_a_time(
    empty_database: str, pg_cluster: PostgresCluster
) -> None:
    """Processes that all migrate at start-up (python -m persistence.migrate) queue on an
    advisory lock instead of racing: while we hold it, both wait; once released they
    finish one after the other, the later one finding the work done."""
    conninfo = pg_cluster.conninfo(str(make_url(empty_database).database))
    waiting = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    command = [sys.executable, "-m", "persistence.migrate", "--url", empty_database]
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as holder:
        await holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        processes = [
            await asyncio.create_subprocess_exec(
                *command, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
            for _ in range(2)
        ]
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            row = await (await holder.execute(waiting)).fetchone()
            if row is not None and row[0] == len(processes):
                break
            assert asyncio.get_running_loop().time() < deadline, "migrations did not queue"
            await asyncio.sleep(0.1)
        await holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))

    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in processes)), 120)
    for process, (output, _) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output.decode()
    engine = create_engine(DatabaseSettings(url=empty_database))
    try:
        async with engine.connect() as conn:
            _, version = await conn.run_sync(tables_and_version)
            assert await conn.run_sync(differences) == []
    finally:
        await engine.dispose()
    assert version == head_revision()
