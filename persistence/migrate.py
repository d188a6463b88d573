"""Bring a database to the latest schema: ``python -m persistence.migrate`` (uses Settings).

Programmatic: ``upgrade(url)`` from sync code, ``await upgrade_async(engine)`` on an engine
the caller already has. Neither needs ``alembic.ini``: the script location is this package.
"""

from __future__ import annotations

import argparse
import logging
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from config.settings import load_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# PostgreSQL advisory lock taken by every migration run (any constant, the same everywhere).
MIGRATION_LOCK_KEY = 7_203_114_471

log = logging.getLogger(__name__)

# Alembic keeps the running migration in module globals (alembic.context / alembic.op):
# two migrations in threads of one process would clobber each other. Processes are fine
# (PostgreSQL migrations take an advisory lock, see env.py).
_ALEMBIC_LOCK = threading.Lock()


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for our migrations; without ``url`` env.py falls back to Settings."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation: a literal % (e.g. in a password) must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` (async driver URLs are fine) to ``revision``."""
    with _ALEMBIC_LOCK:
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    with _ALEMBIC_LOCK:
        command.downgrade(alembic_config(url), revision)


def _upgrade_on(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    with _ALEMBIC_LOCK:
        command.upgrade(config, revision)


async def upgrade_async(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate through an existing ``AsyncEngine`` (runs Alembic inside ``run_sync``)."""
    async with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations rebuild SQLite tables; with foreign keys enforced, dropping the
            # old table would fire ON DELETE CASCADE. The pragma only takes effect outside a
            # transaction, so it goes straight to the driver before SQLAlchemy begins one.
            await _sqlite_pragma(connection, "PRAGMA foreign_keys=OFF")
        try:
            async with connection.begin():
                await connection.run_sync(_upgrade_on, revision)
        finally:
            if sqlite:
                await _sqlite_pragma(connection, "PRAGMA foreign_keys=ON")


async def _sqlite_pragma(connection: AsyncConnection, pragma: str) -> None:
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.execute(pragma)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Migrate the database to the latest schema.")
    parser.add_argument("--url", help="database URL (default: from Settings)")
    parser.add_argument("--revision", default="head")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    url = args.url or load_settings().database.url
    upgrade(url, args.revision)
    log.info("database at %s is at %s", _safe(url), args.revision)
    return 0


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    raise SystemExit(main())
