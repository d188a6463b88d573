"""Liveness and readiness of the worker and relay processes, over HTTP, against the real
Temporal dev server and Kafka broker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from config.settings import DatabaseSettings, KafkaSettings, OutboxSettings
from devstack.kafka import KafkaBroker
from devstack.process import ServiceUnavailableError, free_port
from devstack.temporal import TemporalDevServer
from outbox.relay import build_relay
from persistence.database import create_engine, session_factory
from persistence.migrate import upgrade_async
from tests.fixtures.services import service_unavailable
from tests.integration.outbox_helpers import ROOT, kafka_settings, relay_env
from workers.health import WorkerHealth

pytestmark = pytest.mark.integration


def _status(port: int, path: str) -> tuple[int, str]:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)
    except httpx.HTTPError as exc:
        return 0, repr(exc)
    return response.status_code, response.text


def _wait_for(port: int, path: str, status: int, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    seen = (0, "")
    while time.monotonic() < deadline:
        seen = _status(port, path)
        if seen[0] == status:
            return seen[1]
        time.sleep(0.5)
    raise AssertionError(f"{path} never answered {status}; last: {seen}")


def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def _worker(address: str, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    env |= {
        "ORDERS_TEMPORAL__ADDRESS": address,
        "ORDERS_TEMPORAL__TASK_QUEUE_PREFIX": f"{uuid.uuid4().hex[:8]}-",
        "ORDERS_TELEMETRY__PROBE_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    for proc in _process([sys.executable, "-m", "workers.orders"], env, log):
        yield proc, port


@pytest.fixture
def worker_process(
    temporal_server: TemporalDevServer, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    yield from _worker(temporal_server.address, tmp_path / "worker.log")


def test_a_worker_process_says_when_it_polls_its_queue(
    worker_process: tuple[subprocess.Popen[bytes], int],
) -> None:
    """`python -m workers.orders` with ORDERS_TELEMETRY__PROBE_PORT answers /healthz and
    /readyz, and /pollers once Temporal lists it as a poller of its queue; SIGTERM ends it
    cleanly."""
    proc, port = worker_process
    _wait_for(port, "/pollers", 200)
    assert _status(port, "/readyz") == (200, "ok\n")
    assert _status(port, "/healthz") == (200, "ok\n")
    assert _status(port, "/nowhere")[0] == 404
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def test_a_worker_stays_ready_while_its_temporal_frontend_is_down(tmp_path: Path) -> None:
    """A frontend outage must not make workers unready (that would block node drains):
    with the server stopped, /readyz and /healthz still answer 200 while /pollers says
    503 with the reason."""
    server = TemporalDevServer(tmp_path / "temporal", headless=True)
    try:
        server.start()
    except ServiceUnavailableError as exc:
        service_unavailable(str(exc))
    try:
        for proc, port in _worker(server.address, tmp_path / "worker.log"):
            _wait_for(port, "/pollers", 200)
            server.stop()
            reason = _wait_for(port, "/pollers", 503)
            assert f"Temporal at {server.address} did not answer" in reason
            # Longer than the pollers' cache and a few failed polls of the worker.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                assert _status(port, "/readyz") == (200, "ok\n")
                assert _status(port, "/healthz") == (200, "ok\n")
                time.sleep(1)
            assert _status(port, "/pollers")[0] == 503
            assert proc.poll() is None
    finally:
        server.stop()


@activity.defn
async def _noop() -> None:
    return None


async def test_worker_health_follows_the_worker(temporal_client: Client) -> None:
    """Not live before it runs; live and ready once it runs, whatever Temporal says; not
    polling while the server has not seen it poll; polling once it does; not live after
    its run ended."""
    worker = Worker(temporal_client, task_queue=f"probe-{uuid.uuid4()}", activities=[_noop])
    health = WorkerHealth(temporal_client, [worker])
    assert await health.live() == "the workers have not started"

    run = asyncio.create_task(worker.run())
    health.watch([run])
    try:
        assert await health.ready() is None
        deadline = time.monotonic() + 60
        while (problem := await health.pollers()) is not None:
            assert "polling" in problem
            assert time.monotonic() < deadline, problem
            await asyncio.sleep(1)
        # A queue nobody polls: never ready, however alive the process is.
        unpolled = Worker(temporal_client, task_queue=f"probe-{uuid.uuid4()}", activities=[_noop])
        idle = WorkerHealth(temporal_client, [unpolled])
        idle.watch([run])
        expected = f"{temporal_client.identity} is not (yet) polling {unpolled.task_queue}"
        assert await idle.pollers() == expected
        assert await idle.ready() is None
    finally:
        await worker.shutdown()
        await run
    problem = await health.live()
    assert problem is not None
    assert "stopped" in problem


def test_a_relay_process_is_ready_with_the_broker_and_the_lag(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    port = free_port()
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    subprocess.run(
        [sys.executable, "-m", "persistence.migrate", "--url", url], check=True, timeout=120
    )
    env = relay_env(
        url,
        kafka_settings(kafka_broker.bootstrap_servers),
        ORDERS_TELEMETRY__PROBE_PORT=str(port),
    )
    for proc in _process([sys.executable, "-m", "outbox"], env, tmp_path / "relay.log"):
        _wait_for(port, "/readyz", 200)
        assert _status(port, "/healthz")[0] == 200
        assert proc.poll() is None


async def test_a_relay_without_its_broker_is_not_ready(tmp_path: Path) -> None:
    database = DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}")
    engine = create_engine(database)
    try:
        await upgrade_async(engine)
        kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
        relay = build_relay(session_factory(engine), database, kafka, OutboxSettings())
        problem = await relay.broker_problem(wait_seconds=1)
        assert problem is not None
        assert "Kafka unreachable" in problem
    finally:
        await engine.dispose()
