"""Temporal's two PostgreSQL databases, created and upgraded by the server's own tool.

``temporal-sql-tool`` (built with the server) applies the versioned schemas shipped in the
server's module (``schema/postgresql/v12/{temporal,visibility}/versioned``); running it
again on an up-to-date database changes nothing.
"""

from __future__ import annotations

import subprocess

import psycopg

from devstack import go_servers
from devstack.postgres import PostgresCluster
from devstack.postgres_binaries import SUPERUSER
from devstack.process import ServiceUnavailableError

DATABASE = "temporal"
VISIBILITY_DATABASE = "temporal_visibility"
SCHEMA_TIMEOUT = 300.0


def _sql_tool(postgres: PostgresCluster, database: str, *command: str) -> None:
    args = [
        str(go_servers.binary("temporal-sql-tool")),
        "--plugin",
        "postgres12",
        "--ep",
        postgres.host,
        "-p",
        str(postgres.port),
        "-u",
        SUPERUSER,
        "--db",
        database,
        *command,
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=SCHEMA_TIMEOUT, check=False)
    if done.returncode != 0:
        raise ServiceUnavailableError(
            f"`{' '.join(args)}` failed ({done.returncode}):\n{done.stdout[-2000:]}"
            f"{done.stderr[-2000:]}"
        )


def _has_schema(postgres: PostgresCluster, database: str) -> bool:

    with psycopg.connect(postgres.conninfo(database), autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('public.schema_version') IS NOT NULL").fetchone()
        return bool(row and row[0])


def prepare_schemas(postgres: PostgresCluster) -> None:
    """Create both databases and bring their schemas to the server's version (idempotent)."""
    schema_root = go_servers.module_dir("temporal-server") / "schema" / "postgresql" / "v12"
    for database, folder in ((DATABASE, "temporal"), (VISIBILITY_DATABASE, "visibility")):
        postgres.create_database(database, exist_ok=True)
        if not _has_schema(postgres, database):
            _sql_tool(postgres, database, "setup-schema", "-v", "0.0")
        _sql_tool(
            postgres, database, "update-schema", "-d", str(schema_root / folder / "versioned")
        )
