"""Continuous WAL archiving and base backups of one PostgreSQL cluster, with pgBackRest.

One stanza per cluster: in ``--production`` the cluster holds the application's database and
Temporal's persistence and visibility databases, so one backup and one restore instant cover
all three (docs/backup.md). The repository, the config file, pgBackRest's logs, locks and
spool are all under one folder of the run directory -- nothing in /etc or /var.

pgBackRest must run as the account that owns the data directory (it reads the data files,
and the server runs ``archive-push`` as itself): when we are root that is the unprivileged
user devstack/postgres_binaries.py runs the server as, so every command goes through the
same ``setpriv`` prefix and the folder is handed to that user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from devstack.postgres import HOST, PostgresCluster
from devstack.postgres_binaries import (
    SUPERUSER,
    command_prefix,
    postmaster_running,
    prepare_data_dir,
    unprivileged_user,
)
from devstack.process import ServiceUnavailableError, wait_until

STANZA = "orders"
CONFIG_NAME = "pgbackrest.conf"
# A WAL segment is archived when it fills or after this many seconds of writes, whichever
# comes first: the most a lost cluster can lose (the recovery point objective).
ARCHIVE_TIMEOUT_SECONDS = 60
INSTALL_HINT = "install it with `apt-get install -y pgbackrest` (2.45 or later)"


def archive_settings(
    config: Path, archive_timeout: int = ARCHIVE_TIMEOUT_SECONDS
) -> dict[str, str]:
    """The server settings that ship every WAL segment to the repository as it closes."""
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": (f"{_binary()} --config={config} --stanza={STANZA} archive-push %p"),
        "archive_timeout": f"{archive_timeout}s",
    }


def _binary() -> str:
    found = shutil.which("pgbackrest")
    if found is None:
        raise ServiceUnavailableError(f"pgbackrest is not installed; {INSTALL_HINT}")
    return found


@dataclass(frozen=True)
class Ran:
    """One pgBackRest command: what it printed and how long it took."""

    command: str
    seconds: float
    output: str


class BackupRepository:
    """The stanza of ``cluster`` in ``folder``: its config, repository, logs and locks.

    Build the cluster with ``server_settings=archive_settings(repository.config_path)``
    (:func:`archived_cluster` does both) so that it archives into this repository.
    """

    def __init__(self, folder: Path, cluster: PostgresCluster) -> None:
        self.folder = folder.absolute()
        self.cluster = cluster
        self.config_path = self.folder / CONFIG_NAME
        self.repo_path = self.folder / "repo"

    def write_config(self) -> Path:
        """The config, rewritten before every command: the cluster's port may change."""
        run_as = unprivileged_user()
        prepare_data_dir(self.folder, run_as)
        for name in ("repo", "log", "lock", "spool"):
            prepare_data_dir(self.folder / name, run_as)
        self.folder.chmod(0o755)  # the server's archive_command reads the config too
        port = self._port()
        text = "\n".join(
            [
                "[global]",
                f"repo1-path={self.repo_path}",
                # Two full backups and the WAL they need; older ones expire after a backup.
                "repo1-retention-full=2",
                f"log-path={self.folder / 'log'}",
                f"lock-path={self.folder / 'lock'}",
                f"spool-path={self.folder / 'spool'}",
                "log-level-console=warn",
                "log-level-file=info",
                # lz4: the fastest of the built-in compressors; the repository is local.
                "compress-type=lz4",
                # A backup starts with an immediate checkpoint instead of waiting for one.
                "start-fast=y",
                "",
                f"[{STANZA}]",
                f"pg1-path={self.cluster.data_dir}",
                *([f"pg1-port={port}"] if port else []),
                f"pg1-user={SUPERUSER}",
                "",
            ]
        )
        self.config_path.write_text(text)
        self.config_path.chmod(0o644)
        return self.config_path

    def _port(self) -> int | None:
        """The running server's port: ours, else the one its ``postmaster.pid`` names (the
        operator's command runs beside ``make dev``, which started it)."""
        if self.cluster.alive():
            return self.cluster.port
        try:
            lines = (self.cluster.data_dir / "postmaster.pid").read_text().splitlines()
            return int(lines[3])
        except (OSError, IndexError, ValueError):
            return None

    def run(self, *args: str, timeout: float = 600.0) -> Ran:
        """``pgbackrest --stanza=orders ARGS`` as the cluster's owner; raises on failure."""
        self.write_config()
        command = [
            *command_prefix(unprivileged_user(), die_with_parent=False),
            _binary(),
            f"--config={self.config_path}",
            f"--stanza={STANZA}",
            *args,
        ]
        # The server listens on TCP only (no Unix socket): libpq takes the host from here.
        env = {**os.environ, "PGHOST": HOST}
        started = time.monotonic()
        result = subprocess.run(
            command, capture_output=True, text=True, cwd="/", env=env, timeout=timeout, check=False
        )
        ran = Ran(" ".join(["pgbackrest", *args]), time.monotonic() - started, result.stdout)
        if result.returncode != 0:
            raise BackupError(
                f"{ran.command} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return ran

    # -- the operator's commands -----------------------------------------------------------

    def stanza_create(self) -> Ran:
        """Creates the stanza (idempotent), then checks that archiving reaches it."""
        created = self.run("stanza-create")
        checked = self.run("check")
        return Ran("pgbackrest stanza-create + check", created.seconds + checked.seconds, "")

    def backup(self, kind: str = "full") -> Ran:
        """A base backup (``full``, ``diff`` or ``incr``) of the running cluster."""
        return self.run(f"--type={kind}", "backup")

    def info(self) -> Ran:
        return self.run("info")

    def has_backup(self) -> bool:
        return "full backup:" in self.run("info").output

    def restore(self, target: datetime | None = None) -> Ran:
        """Into the cluster's data directory, which must not hold a running server. With
        ``target``, to that instant (the first commit after it is not replayed), else to the
        end of the archived WAL. The next ``start()`` replays the WAL and promotes."""
        data_dir = self.cluster.data_dir
        if self.cluster.alive() or postmaster_running(data_dir):
            raise BackupError(f"stop the server of {data_dir} before restoring into it")
        if data_dir.exists():
            shutil.rmtree(data_dir)
        prepare_data_dir(data_dir, unprivileged_user())
        args = ["--target-action=promote"]
        if target is not None:
            args += ["--type=time", f"--target={target.isoformat(sep=' ')}"]
        return self.run(*args, "restore")


class BackupError(RuntimeError):
    """A pgBackRest command failed; the message holds its output."""


def archived_cluster(
    data_dir: Path,
    folder: Path,
    *,
    port: int | None = None,
    log_path: Path | None = None,
    archive_timeout: int = ARCHIVE_TIMEOUT_SECONDS,
    server_settings: Mapping[str, str] | None = None,
) -> tuple[PostgresCluster, BackupRepository]:
    """A durable cluster that archives its WAL into a repository in ``folder``."""
    config = folder.absolute() / CONFIG_NAME
    cluster = PostgresCluster(
        data_dir,
        port=port,
        durable=True,
        log_path=log_path,
        server_settings={**archive_settings(config, archive_timeout), **(server_settings or {})},
    )
    return cluster, BackupRepository(folder, cluster)


def archived_if_installed(
    data_dir: Path, folder: Path, *, port: int | None
) -> tuple[PostgresCluster, BackupRepository | None]:
    """The durable cluster of ``make dev ARGS=--production``, archiving when pgBackRest is
    installed; without it the stack still runs, unarchived, and says so."""
    try:
        return archived_cluster(data_dir, folder, port=port)
    except ServiceUnavailableError as exc:
        print(f"PostgreSQL runs without WAL archiving: {exc}", flush=True)
        return PostgresCluster(data_dir, port=port, durable=True), None


def run_dir_repository(run_dir: Path, *, port: int | None = None) -> BackupRepository:
    """The archived cluster of ``make dev ARGS=--production`` (``run_dir/postgres``) and its
    repository (``run_dir/backup``): one stanza for the application's and Temporal's
    databases."""
    run_dir = run_dir.absolute()
    _, repository = archived_cluster(run_dir / "postgres", run_dir / "backup", port=port)
    return repository


def wait_until_promoted(cluster: PostgresCluster, timeout: float = 120.0) -> None:
    """After a restore the server accepts connections while it still replays: wait until
    recovery reached its target and the server was promoted (it then takes writes)."""

    def promoted() -> bool:
        with psycopg.connect(cluster.conninfo(), connect_timeout=2) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        return row is not None and row[0] is False

    wait_until(promoted, timeout, f"the end of recovery of {cluster.data_dir}")


def archive_from_now(repository: BackupRepository, say: Callable[[str], None]) -> None:
    """What ``make dev ARGS=--production`` does once its cluster runs: the stanza (idempotent,
    with a check that archiving reaches it; ~1.5 s), then -- when the repository holds no
    backup yet -- a first full backup in the background, so the start does not wait for it
    (a backup of the fresh cluster takes several seconds)."""
    ran = repository.stanza_create()
    say(f"WAL archiving to {repository.repo_path} ({ran.seconds:.1f}s to check)")
    if repository.has_backup():
        return

    def first_backup() -> None:
        try:
            done = repository.backup()
        except BackupError as exc:
            say(f"first full backup failed: {exc}")
        else:
            say(f"first full backup taken in {done.seconds:.1f}s (python -m tools.backup info)")

    threading.Thread(target=first_backup, name="first-backup", daemon=True).start()
