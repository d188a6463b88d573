"""The async engine and session factory. Nothing is created or connected at import time.

PostgreSQL (psycopg 3) is the production store; the pool is sized from the settings.
SQLite (aiosqlite) is the zero-setup dev mode. It is made fit for several processes
sharing one file: WAL (readers never block the writer), a busy timeout (a writer waits for
the lock instead of failing at once), foreign keys enforced, and every transaction opened
with ``BEGIN IMMEDIATE`` so that a read-then-write transaction -- "next version is max + 1"
-- holds the write lock from its first statement and cannot fail half-way on an upgrade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext import asyncio as sa_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from config.settings import DatabaseSettings

SQLITE_BUSY_TIMEOUT_MS = 15_000
APPLICATION_NAME = "order-saga"


def is_unavailable(error: BaseException) -> bool:
    """True when ``error`` says the database cannot be reached or used right now (down,
    restarting, connections exhausted), as opposed to a statement it refused: callers
    answer "try again later" for the first and treat the second as a bug."""
    if isinstance(error, sa_exc.DBAPIError):
        return error.connection_invalidated or isinstance(
            error, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    # The pool's own "no connection within pool_timeout".
    return isinstance(error, sa_exc.TimeoutError)


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL; ``None`` for other backends and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def ensure_sqlite_parent(url: str) -> None:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    """An ``AsyncEngine`` for ``settings.url`` (``postgresql+psycopg://`` or ``sqlite+aiosqlite://``)."""
    # Looked up on the module at each call, not imported by name: OpenTelemetry's SQLAlchemy
    # instrumentation (``telemetry.tracing``) wraps it there, and so traces every engine.
    create_async_engine = sa_asyncio.create_async_engine
    if settings.is_postgres:
        return create_async_engine(
            settings.url,
            echo=settings.echo,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_pre_ping=True,
            # TLS (sslmode, CA, client certificate) as the settings say; none in dev.
            connect_args={"application_name": APPLICATION_NAME, **settings.tls_connect_args()},
        )
    if make_url(settings.url).get_backend_name() == "sqlite":
        ensure_sqlite_parent(settings.url)
        engine = create_async_engine(settings.url, echo=settings.echo)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(settings.url, echo=settings.echo)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, instead of the driver's own
        # deferred BEGIN before the first write.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (``expire_on_commit=False``)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
