"""The compose file's Temporal part, run here without a container engine: its schema
script, the server (the tests' own 1.32.2 build, which renders the same embedded config
template as the image) with the file's mTLS environment, and the bootstrap with an app
service's environment and the generated secrets."""

from __future__ import annotations

import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import go_servers
from devstack.postgres import PostgresCluster
from devstack.process import ServiceUnavailableError
from tests.deploy.test_compose import ROOT, SECRETS_DIR, services
from tests.fixtures.services import service_unavailable
from tools.compose_secrets import ensure_secrets

pytestmark = pytest.mark.integration

SERVER_PORTS = [
    f"{role}_{kind}_PORT"
    for role in ("FRONTEND", "HISTORY", "MATCHING", "WORKER", "INTERNAL_FRONTEND")
    for kind in ("GRPC", "MEMBERSHIP")
] + ["FRONTEND_HTTP_PORT", "INTERNAL_FRONTEND_HTTP_PORT"]


def _port_below_32768() -> int:
    """Temporal stores membership ports as PostgreSQL smallints."""
    while True:
        port = random.randint(20000, 32000)  # noqa: S311  # a port, not a secret
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _binary(name: str) -> Path:
    try:
        return go_servers.binary(name)
    except ServiceUnavailableError as exc:
        service_unavailable(str(exc))


def _in_here(value: object, secrets: Path) -> str:
    return str(value).replace(SECRETS_DIR, str(secrets))


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(tmp_path / "pg")
    try:
        cluster.start()
    except ServiceUnavailableError as exc:
        service_unavailable(str(exc))
    yield cluster
    cluster.stop()


def test_the_compose_temporal_starts_with_mtls_and_the_bootstrap_gets_through(
    postgres: PostgresCluster, tmp_path: Path
) -> None:
    found = services()
    options = dict(
        part.removeprefix("--").split("=", 1) for part in found["secrets"]["command"][3:]
    )
    secrets = tmp_path / "secrets"
    ensure_secrets(secrets, issuer=options["issuer"], audience=options["audience"])

    schema_root = go_servers.module_dir("temporal-server") / "schema"
    script = found["temporal-schema"]["entrypoint"][2].replace("$$", "$")
    script = (
        script.replace("temporal-sql-tool", str(_binary("temporal-sql-tool")))
        .replace(
            "--ep postgresql -p 5432 -u orders", f"--ep 127.0.0.1 -p {postgres.port} -u postgres"
        )
        .replace("/etc/temporal/schema", str(schema_root))
        .replace(SECRETS_DIR, str(secrets))
    )
    for run in ("first", "second"):
        done = subprocess.run(
            ["sh", "-c", script], check=False, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{run} run: {done.stderr[-2000:]}"

    ports = {name: str(_port_below_32768()) for name in SERVER_PORTS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    env |= {
        name: _in_here(value, secrets) for name, value in found["temporal"]["environment"].items()
    }
    env |= ports | {
        # Loopback here instead of the compose network; the database is this test's.
        "BIND_ON_IP": "127.0.0.1",
        "POSTGRES_SEEDS": "127.0.0.1",
        "DB_PORT": str(postgres.port),
        "POSTGRES_USER": "postgres",
        "DYNAMIC_CONFIG_FILE_PATH": str(ROOT / "deploy/compose/temporal-dynamicconfig.yaml"),
    }
    mounts = " ".join(str(volume) for volume in found["temporal"]["volumes"])
    assert "deploy/compose/temporal-dynamicconfig.yaml:" in mounts
    log = tmp_path / "temporal.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(_binary("temporal-server")), "start"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        app = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
        app |= {
            name: _in_here(value, secrets)
            for name, value in found["bootstrap"]["environment"].items()
        }
        for line in (secrets / "env.sh").read_text().splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            (app[name],) = shlex.split(value)
        app["ORDERS_TEMPORAL__ADDRESS"] = f"127.0.0.1:{ports['FRONTEND_GRPC_PORT']}"
        postgres.create_database("orders", exist_ok=True)
        app["ORDERS_DATABASE__URL"] = postgres.url("orders")
        # Run from elsewhere so that no .env of the checkout is read.
        app["PYTHONPATH"] = str(ROOT)
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            done = subprocess.run(
                [sys.executable, "-m", "tools.bootstrap"],
                env=app,
                check=False,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=240,
            )
            if done.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "namespace orders" in done.stdout
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
