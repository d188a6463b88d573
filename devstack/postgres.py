"""A real PostgreSQL cluster from the installed server binaries (``initdb`` + ``postgres``).

The test suite runs a throwaway cluster per session (``durable=False``: no fsync, so it is
fast and loses nothing that matters); the dev launcher and the benchmark run a durable one
that keeps its data directory between runs. Finding the binaries, and the unprivileged
account they run as when we are root, is devstack/postgres_binaries.py's.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

from devstack.postgres_binaries import (
    SUPERUSER,
    command_prefix,
    find_pg_bin,
    initdb,
    prepare_data_dir,
    unprivileged_user,
)
from devstack.process import ManagedProcess, ServiceUnavailableError, free_port, wait_until
from devstack.supervisor import StopRequest

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


# Throwaway clusters trade crash safety for speed: nothing in a test cluster outlives it.
NON_DURABLE_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PortInUseError(ServiceUnavailableError):
    """Another server already listens on the port we were given."""


class PostgresCluster:
    """One ``postgres`` server on 127.0.0.1 with its own data directory.

    ``start()`` runs ``initdb`` when the directory holds no cluster yet (trust auth for
    loopback, UTF8, locale C, superuser ``postgres``) and reuses it otherwise. Unix sockets
    are off: clients connect over TCP to ``127.0.0.1:<port>``.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        durable: bool = False,
        log_path: Path | None = None,
        max_connections: int = 200,
        pg_bin: Path | None = None,
        die_with_parent: bool = True,
        server_settings: Mapping[str, str] | None = None,
    ) -> None:
        """``die_with_parent``: the server gets a fast shutdown if the *thread* that called
        ``start()`` dies without stopping it (a killed test run leaves no server behind);
        turn it off when starting from a short-lived thread. ``server_settings``: more
        ``-c name=value`` settings, after ours (WAL archiving: devstack/pgbackrest.py)."""
        self.data_dir = data_dir.absolute()
        self.durable = durable
        self.log_path = (
            log_path or self.data_dir.with_name(self.data_dir.name + ".log")
        ).absolute()
        self.max_connections = max_connections
        self.die_with_parent = die_with_parent
        self.server_settings = dict(server_settings or {})
        self._fixed_port = port
        self._port: int | None = port
        self._pg_bin = pg_bin
        self._process: ManagedProcess | None = None

    # -- addresses -------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the cluster has no port until it is started")
        return self._port

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL with the psycopg 3 driver (sync and async)."""
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq connection string, for psycopg and ``psql``."""
        return f"host={HOST} port={self.port} user={SUPERUSER} dbname={dbname}"

    @property
    def pg_bin(self) -> Path:
        if self._pg_bin is None:
            self._pg_bin = find_pg_bin()
        return self._pg_bin

    # -- lifecycle -------------------------------------------------------------------------

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.alive() else None

    def start(self, timeout: float = 60.0) -> PostgresCluster:
        pg_bin = self.pg_bin
        run_as = unprivileged_user()
        prefix = command_prefix(run_as, die_with_parent=self.die_with_parent)
        prepare_data_dir(self.data_dir, run_as)
        if not (self.data_dir / "PG_VERSION").exists():
            initdb(pg_bin, self.data_dir, run_as, durable=self.durable)
        # A free port can be taken between free_port() and the server's bind(): retry then.
        attempts = 1 if self._fixed_port else 3
        for attempt in range(1, attempts + 1):
            self._port = self._fixed_port or free_port()
            try:
                self._start_server(pg_bin, prefix, timeout)
            except ServiceUnavailableError as exc:
                port_taken = isinstance(exc, PortInUseError) or "already in use" in str(exc)
                if attempt == attempts or not port_taken:
                    raise
            else:
                return self
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): open sessions are disconnected, then a clean checkpoint."""
        if self._process is not None:
            self._process.stop(timeout=timeout, sig=signal.SIGINT)
            self._process = None

    def stop_immediately(self, timeout: float = 30.0) -> None:
        """``pg_ctl stop -m immediate`` (SIGQUIT): no checkpoint, as a crash; the next start
        recovers from the write-ahead log."""
        if self._process is not None:
            self._process.stop(timeout=timeout, sig=signal.SIGQUIT)
            self._process = None

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def server_args(self, pg_bin: Path) -> list[str]:
        settings = {
            "listen_addresses": HOST,
            "port": str(self.port),
            "unix_socket_directories": "",
            "max_connections": str(self.max_connections),
            "timezone": "UTC",
            "log_timezone": "UTC",
        }
        if not self.durable:
            settings.update(NON_DURABLE_SETTINGS)
        settings.update(self.server_settings)
        args = [str(pg_bin / "postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        return args

    def _start_server(self, pg_bin: Path, prefix: list[str], timeout: float) -> None:
        self._process = ManagedProcess(
            "postgres", [*prefix, *self.server_args(pg_bin)], self.log_path, cwd=Path("/")
        ).start()
        process = self._process

        def ready() -> bool:
            process.check_alive()
            try:
                with psycopg.connect(self.conninfo(), connect_timeout=2) as conn:
                    row = conn.execute("SELECT current_setting('data_directory')").fetchone()
            except psycopg.OperationalError:
                return False
            # Whoever answers must be our server, not one that already had the port.
            serving = Path(str(row[0] if row else "")).resolve()
            if serving != self.data_dir.resolve():
                raise PortInUseError(
                    f"port {self.port} is already in use by the PostgreSQL of {serving}"
                )
            return True

        try:
            wait_until(ready, timeout, f"PostgreSQL on {HOST}:{self.port}")
        except ServiceUnavailableError as exc:
            process.stop(sig=signal.SIGQUIT)
            self._process = None
            raise type(exc)(f"{exc}; see {self.log_path}:\n{self._log_tail()}") from exc

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return ""

    # -- databases -------------------------------------------------------------------------

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.conninfo(), autocommit=True)

    def database_exists(self, name: str) -> bool:
        with self._admin() as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            return row is not None

    def create_database(
        self, name: str, template: str | None = None, *, exist_ok: bool = False
    ) -> str:
        """``CREATE DATABASE name [TEMPLATE template]``; returns its URL.

        ``exist_ok``: an existing database is fine (a durable cluster started again).
        """
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self._admin() as conn:
            try:
                conn.execute(query)
            except psycopg.errors.DuplicateDatabase:
                if not exist_ok:
                    raise
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drops it even with sessions still open (they are terminated)."""
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with self._admin() as conn:
            conn.execute(query)

    def mark_template(self, name: str) -> None:
        """Freeze a database as a template: no one may connect, so cloning it cannot fail
        with "source database is being accessed by other users"."""
        query = sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
        with self._admin() as conn:
            conn.execute(query.format(sql.Identifier(name)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run a PostgreSQL cluster in the foreground until Ctrl-C (dev launcher)."
    )
    parser.add_argument("--data-dir", type=Path, default=Path(".run/pg"))
    parser.add_argument("--port", type=int, default=5432, help="0 picks a free port")
    parser.add_argument("--database", default="orders", help="created when missing")
    parser.add_argument(
        "--fast",
        action="store_true",
        help="fsync/synchronous_commit/full_page_writes off: quick, loses data on a crash",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    cluster = PostgresCluster(args.data_dir, port=args.port or None, durable=not args.fast)
    stop = StopRequest()
    try:
        cluster.start()
        cluster.create_database(args.database, exist_ok=True)
    except ServiceUnavailableError as exc:
        cluster.stop()
        print(f"postgres: {exc}", file=sys.stderr)
        return 1
    print(cluster.url(args.database), flush=True)
    print(f"PostgreSQL ready (log: {cluster.log_path}); Ctrl-C to stop", file=sys.stderr)
    try:
        if not stop.wait_until_requested(cluster.alive):
            print(f"postgres exited; see {cluster.log_path}", file=sys.stderr)
            return 1
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
