"""``python -m tools.backup`` on a run folder laid out as ``make dev ARGS=--production``
lays it out (``postgres/`` archived into ``backup/``): the operator's four commands, each
saying what it did and how long it took, and a restore to an instant that brings back what
was committed before it and nothing after."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devstack.pgbackrest import archive_from_now, run_dir_repository
from devstack.postgres import PostgresCluster
from tests.fixtures.postgres import running_archived_cluster
from tools import backup


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[tuple[Path, PostgresCluster]]:
    with running_archived_cluster(tmp_path, archive_timeout=1) as (cluster, _):
        yield tmp_path, cluster


def _sql(cluster: PostgresCluster, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


def test_backup_tool_backs_up_and_restores_the_run_folders_cluster_to_an_instant(
    run_dir: tuple[Path, PostgresCluster], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, cluster = run_dir
    _sql(cluster, "CREATE TABLE kept (note text)")
    _sql(cluster, "INSERT INTO kept VALUES ('before the backup')")
    assert backup.main(["--run-dir", str(folder), "stanza-create"]) == 0
    assert backup.main(["--run-dir", str(folder), "backup"]) == 0
    _sql(cluster, "INSERT INTO kept VALUES ('after the backup')")
    # pgBackRest restores from a backup whose stop time, in whole seconds, precedes the target.
    time.sleep(1.2)
    target = _sql(cluster, "SELECT to_char(clock_timestamp(), 'YYYY-MM-DD\"T\"HH24:MI:SS.USOF')")
    time.sleep(0.2)
    _sql(cluster, "INSERT INTO kept VALUES ('after the target')")
    _sql(cluster, "SELECT pg_switch_wal()")
    assert backup.main(["--run-dir", str(folder), "info"]) == 0
    printed = capsys.readouterr().out
    assert "pgbackrest stanza-create + check: " in printed
    assert "pgbackrest --type=full backup: " in printed
    assert "full backup: " in printed  # pgBackRest's own info

    # A restore refuses to overwrite a running cluster.
    assert backup.main(["--run-dir", str(folder), "restore"]) == 1

    time.sleep(2)  # archive_timeout (1 s) ships the segment with the last commit
    cluster.stop()
    restore = ["--run-dir", str(folder), "restore", "--target-time", f"{target[0][0]}:00"]
    assert backup.main(restore) == 0
    assert "promoted; recovery took " in capsys.readouterr().out
    cluster.start()
    notes = [row[0] for row in _sql(cluster, "SELECT note FROM kept ORDER BY note")]
    assert notes == ["after the backup", "before the backup"]


def test_production_start_archives_and_takes_a_first_full_backup_without_waiting_for_it(
    run_dir: tuple[Path, PostgresCluster],
) -> None:
    folder, _ = run_dir
    repository = run_dir_repository(folder)
    said: list[str] = []
    archive_from_now(repository, said.append)
    # The start waited for the stanza and its check only: the backup still runs.
    assert not repository.has_backup(), said

    deadline = time.monotonic() + 60
    while not any("first full backup" in line for line in said) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any(line.startswith("first full backup taken in ") for line in said), said
    assert repository.has_backup()
