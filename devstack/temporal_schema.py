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


def _sql_tool(postgres: PostgresCluster, database: str, *command: str, tool: str) -> None:
    args = [
        str(go_servers.binary(tool)),
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


def prepare_schemas(postgres: PostgresCluster, release: str = "") -> None:
    """Create both databases and bring their schemas to the server's version (idempotent).

    ``release`` picks the build: ``""`` the project's server, ``"-previous"`` the minor
    release before it (the upgrade drill), whose own tool and schema folders are used."""
    tool = f"temporal-sql-tool{release}"
    schema_root = go_servers.module_dir(tool) / "schema" / "postgresql" / "v12"
    for database, folder in ((DATABASE, "temporal"), (VISIBILITY_DATABASE, "visibility")):
        postgres.create_database(database, exist_ok=True)
        if not _has_schema(postgres, database):
            _sql_tool(postgres, database, "setup-schema", "-v", "0.0", tool=tool)
        _sql_tool(
            postgres,
            database,
            "update-schema",
            "-d",
            str(schema_root / folder / "versioned"),
            tool=tool,
        )


def schema_versions(postgres: PostgresCluster) -> dict[str, str]:
    """Each database's schema version, as the sql tool recorded it."""
    versions = {}
    for database in (DATABASE, VISIBILITY_DATABASE):
        with psycopg.connect(postgres.conninfo(database), autocommit=True) as conn:
            row = conn.execute("SELECT curr_version FROM schema_version").fetchone()
            versions[database] = str(row[0]) if row else "none"
    return versions
