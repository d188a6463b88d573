"""Who may publish: one relay holds the lease, the others stand by.

Why a single publisher rather than relays sharing the queue with ``FOR UPDATE SKIP LOCKED``:
SKIP LOCKED lets relay B publish event 6 of an order while relay A still holds event 5, so
the order's events reach Kafka out of order. With one publisher every batch starts at the
oldest unpublished event, so an order's events leave in version order; and if two ever
overlap (a leader that lost its lease but has not noticed yet) the worst case is a
duplicate, which consumers drop by ``ce_id``.

PostgreSQL: the lease is a session-level advisory lock held by a dedicated connection
(outside the SQLAlchemy pool, so no pooled connection can carry it off). PostgreSQL drops it
the moment that session ends: a killed relay's socket closes at once, and TCP keepalives
bound the time for a vanished host. Standbys try every ``retry_seconds``. The same
connection LISTENs on :data:`NOTIFY_CHANNEL`, so a ``NOTIFY outbox_events`` after a commit
wakes the leader at once; without one it polls. Session-level locks need a direct
connection: behind PgBouncer in transaction mode, connect the relay past it.

SQLite (dev): an exclusive ``flock`` on a file beside the database, so a second relay on the
same file stands by as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import time
from pathlib import Path
from typing import IO, Final, Protocol

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from config.settings import DatabaseSettings
from persistence.database import sqlite_path

log = logging.getLogger(__name__)

NOTIFY_CHANNEL: Final = "outbox_events"
APPLICATION_NAME: Final = "order-saga-outbox-relay"
# A stable 64-bit key: advisory locks are per database, so this names "the relay" there.
RELAY_LOCK_KEY: Final = int.from_bytes(
    hashlib.sha256(b"order-saga:outbox-relay").digest()[:8], "big", signed=True
)
_KEEPALIVE_SECONDS: Final = {"idle": 10, "interval": 5, "count": 3}


class LeaseLostError(Exception):
    """The lease can no longer be vouched for: stop publishing and stand by."""


class Lease(Protocol):
    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this relay leads (True) or ``stop`` is set (False)."""

    async def check(self) -> None:
        """Raise :class:`LeaseLostError` unless the lease is still held."""

    async def wait_for_events(self, seconds: float, stop: asyncio.Event) -> None:
        """Return after ``seconds``, on a new-event notification, or when ``stop`` is set."""

    async def release(self) -> None: ...


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True when ``stop`` was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


def make_lease(database: DatabaseSettings, retry_seconds: float = 1.0) -> Lease:
    if database.is_postgres:
        return PostgresLease(
            database.url, retry_seconds=retry_seconds, tls=database.tls_connect_args()
        )
    if make_url(database.url).get_backend_name() == "sqlite":
        path = sqlite_path(database.url)
        lock_file = path.with_name(path.name + ".outbox-relay.lock") if path else None
        return FileLease(lock_file, retry_seconds=retry_seconds)
    raise ValueError(f"the outbox relay supports PostgreSQL and SQLite, not {database.url!r}")


class PostgresLease:
    def __init__(
        self,
        url: str,
        *,
        key: int = RELAY_LOCK_KEY,
        channel: str = NOTIFY_CHANNEL,
        retry_seconds: float = 1.0,
        check_timeout: float = 5.0,
        tls: dict[str, str] | None = None,
    ) -> None:
        plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        # TLS parameters (sslmode, CA, client certificate) join the connection string.
        self._conninfo = make_conninfo(plain, **(tls or {}))
        self._key = key
        self._channel = channel
        self._retry_seconds = retry_seconds
        self._check_timeout = check_timeout
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._held = False

    async def acquire(self, stop: asyncio.Event) -> bool:
        standing_by = False
        while not stop.is_set():
            try:
                if await self._try_lock():
                    log.info("this relay holds the outbox lease and publishes")
                    return True
                if not standing_by:
                    log.info("another relay holds the outbox lease; standing by")
                    standing_by = True
            except psycopg.Error as exc:
                log.warning("outbox lease: database unavailable (%s); retrying", exc)
                await self._close()
            if await wait_or_stop(stop, self._retry_seconds):
                break
        return False

    async def check(self) -> None:
        conn = self._conn
        if conn is None or conn.closed or not self._held:
            raise LeaseLostError("the lease connection is gone")
        try:
            await asyncio.wait_for(conn.execute("SELECT 1"), self._check_timeout)
        except (psycopg.Error, TimeoutError) as exc:
            await self._close()
            raise LeaseLostError(f"the lease connection failed: {exc!r}") from exc

    async def wait_for_events(self, seconds: float, stop: asyncio.Event) -> None:
        conn = self._conn
        if conn is None:
            raise LeaseLostError("the lease connection is gone")
        deadline = time.monotonic() + seconds
        # Slices of at most a second, so a stop request is seen promptly.
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            try:
                async for _ in conn.notifies(timeout=min(remaining, 1.0), stop_after=1):
                    return
            except psycopg.Error as exc:
                await self._close()
                raise LeaseLostError(f"the lease connection failed: {exc!r}") from exc

    async def release(self) -> None:
        # Closing the session releases the lock; an explicit unlock would add nothing.
        await self._close()

    async def _try_lock(self) -> bool:
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect()
        cursor = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,))
        row = await cursor.fetchone()
        if not (row and row[0]):
            return False
        await self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        self._held = True
        return True

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            application_name=APPLICATION_NAME,
            keepalives=1,
            keepalives_idle=_KEEPALIVE_SECONDS["idle"],
            keepalives_interval=_KEEPALIVE_SECONDS["interval"],
            keepalives_count=_KEEPALIVE_SECONDS["count"],
        )
        # The server's side of the same: it notices a vanished relay host and ends the
        # session (releasing the lock) within about half a minute instead of two hours.
        for name, value in _KEEPALIVE_SECONDS.items():
            setting = sql.Identifier(f"tcp_keepalives_{name}")
            await conn.execute(sql.SQL("SET {} = {}").format(setting, sql.Literal(value)))
        return conn

    async def _close(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None and not conn.closed:
            with contextlib.suppress(psycopg.Error):
                await conn.close()


class FileLease:
    """An exclusive ``flock`` beside a SQLite file; ``None`` (in-memory) means always held."""

    def __init__(self, path: Path | None, *, retry_seconds: float = 1.0) -> None:
        self._path = path
        self._retry_seconds = retry_seconds
        self._file: IO[bytes] | None = None

    async def acquire(self, stop: asyncio.Event) -> bool:
        standing_by = False
        while not stop.is_set():
            if self._try_lock():
                return True
            if not standing_by:
                log.info("another relay holds %s; standing by", self._path)
                standing_by = True
            if await wait_or_stop(stop, self._retry_seconds):
                break
        return False

    async def check(self) -> None:
        """A flock lasts as long as the open file: nothing can take it away."""

    async def wait_for_events(self, seconds: float, stop: asyncio.Event) -> None:
        await wait_or_stop(stop, seconds)

    async def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the flock
            self._file = None

    def _try_lock(self) -> bool:
        if self._path is None:
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True
