"""Backups of ``make dev ARGS=--production``'s PostgreSQL: one pgBackRest stanza for the
application's database and Temporal's two (docs/backup.md).

    python -m tools.backup stanza-create      # once; make dev --production does it
    python -m tools.backup backup [--type full|diff|incr]
    python -m tools.backup info
    python -m tools.backup restore [--target-time 2026-12-08T10:15:00Z]   # stack stopped

Each command prints what pgBackRest did and how long it took. ``restore`` replaces the data
directory with the backup, then starts the server once to replay the archived WAL up to the
target instant (or to its end) and promote, and stops it again: the next ``make dev
ARGS=--production`` finds a cluster ready, its sagas and orders as they were at the target.

It knows the devstack's run folder (where the config, the repository and the cluster are);
on a real deployment the same pgBackRest commands run with that deployment's own config.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from devstack.pgbackrest import BackupError, Ran, run_dir_repository, wait_until_promoted
from devstack.process import ServiceUnavailableError

RUN_DIR = Path(".run/production")


def _target(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text}: give a time zone (Z or +00:00)")
    return value.astimezone(UTC)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, default=RUN_DIR)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("stanza-create", help="create the stanza and check archiving")
    backup = commands.add_parser("backup", help="a base backup of the running cluster")
    backup.add_argument("--type", choices=["full", "diff", "incr"], default="full")
    commands.add_parser("info", help="the backups and the archived WAL")
    restore = commands.add_parser("restore", help="restore (the stack stopped), then replay")
    restore.add_argument(
        "--target-time",
        type=_target,
        help="ISO 8601 with a zone; commits after it are not replayed (default: all WAL)",
    )
    return parser.parse_args(argv)


def _say(ran: Ran) -> None:
    if ran.output.strip():
        print(ran.output.rstrip())
    print(f"{ran.command}: {ran.seconds:.1f}s", flush=True)


def run(args: argparse.Namespace) -> None:
    repository = run_dir_repository(args.run_dir)
    if args.command == "stanza-create":
        _say(repository.stanza_create())
    elif args.command == "backup":
        _say(repository.backup(args.type))
    elif args.command == "info":
        _say(repository.info())
    else:
        started = time.monotonic()
        _say(repository.restore(args.target_time))
        cluster = repository.cluster
        cluster.start()
        try:
            wait_until_promoted(cluster)
        finally:
            cluster.stop()
        print(
            f"replayed to {args.target_time or 'the end of the archive'} and promoted; "
            f"recovery took {time.monotonic() - started:.1f}s in all. Take a new full backup "
            "once the stack runs again (python -m tools.backup backup).",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (BackupError, ServiceUnavailableError) as exc:
        print(f"backup: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
