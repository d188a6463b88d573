"""Alembic environment for the order-saga schema (PostgreSQL and SQLite).

Where the database is, in order of precedence:
1. a connection handed in as ``config.attributes["connection"]`` -- how
   :func:`persistence.migrate.upgrade_async` runs on an app ``AsyncEngine`` via ``run_sync``;
2. ``sqlalchemy.url`` in the Alembic config (``persistence.migrate.upgrade(url)`` sets it);
3. the project Settings (``ORDERS_DATABASE__URL`` / ``DATABASE_URL``).

The app's async URLs are accepted and run on the matching sync driver (psycopg 3 is both;
aiosqlite -> pysqlite): DDL runs once at start-up, and a sync connection needs no event
loop, so migrations can run from any code, including code that owns a running loop.
On SQLite, autogenerate renders batch operations (ALTER TABLE is limited there).
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection, make_url
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

import persistence.order_history  # the order-history read model's table, on the metadata
import persistence.tables  # noqa: F401  (registers every table on the metadata)
from config.settings import load_settings
from persistence.database import ensure_sqlite_parent
from persistence.migrate import MIGRATION_LOCK_KEY
from persistence.tables import metadata
from persistence.types import Money

SYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite+pysqlite",
    "postgresql+asyncpg": "postgresql+psycopg",
    "postgresql+psycopg_async": "postgresql+psycopg",
}

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    explicit = config.get_main_option("sqlalchemy.url")
    if explicit:
        return explicit
    return load_settings().database.url


def sync_url(url: str) -> str:
    parsed = make_url(url)
    driver = SYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        return url
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def render_item(type_: str, obj: Any, _autogen_context: AutogenContext) -> str | Literal[False]:
    """Render the project's column types as plain SQLAlchemy types, so that revisions do
    not depend on application code that may change after they are written."""
    if type_ != "type":
        return False
    if isinstance(obj, Money):
        return 'sa.Numeric(precision=12, scale=2).with_variant(sa.String(length=32), "sqlite")'
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, AutoString):
        length = getattr(obj.impl_instance, "length", None)
        return f"sa.String(length={length})" if length else "sa.String()"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=metadata,
        compare_type=True,
        render_item=render_item,
        **kwargs,
    )


def run_migrations_offline() -> None:
    url = sync_url(database_url())
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=make_url(url).get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several processes may migrate at start-up: one at a time. The lock is held to
            # the end of the migration transaction, and the next one then finds it done.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        do_run_migrations(connection)
        return
    url = sync_url(database_url())
    ensure_sqlite_parent(url)
    # TLS to PostgreSQL comes from the settings, whoever named the URL.
    tls = load_settings().database.tls_connect_args() if url.startswith("postgresql") else {}
    engine = create_engine(url, poolclass=pool.NullPool, connect_args=tls)
    try:
        with engine.connect() as conn:
            do_run_migrations(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
