"""While PostgreSQL is down the API says so (503 + Retry-After) and still answers for orders
from their sagas; once it is back, orders are taken again and nothing committed is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from api.problems import PROBLEM_MEDIA_TYPE
from config.settings import TemporalSettings
from devstack.postgres import PostgresCluster
from devstack.process import ServiceUnavailableError, free_port
from persistence.migrate import upgrade
from tests.e2e.harness import running_api
from tests.fixtures.services import service_unavailable


@pytest.fixture
def restartable_pg(tmp_path: Path) -> Iterator[PostgresCluster]:
    """A cluster of this test's own, durable (it is stopped and started again), on a fixed
    port so the app's URL stays right across the restart."""
    cluster = PostgresCluster(tmp_path / "pg", port=free_port(), durable=True)
    try:
        cluster.start()
    except ServiceUnavailableError as exc:
        service_unavailable(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


async def test_database_down_gives_503_with_retry_after_and_reads_fall_back_to_the_saga(
    restartable_pg: PostgresCluster, temporal_settings: TemporalSettings, temporal_client: Client
) -> None:
    url = restartable_pg.create_database("orders")
    await asyncio.to_thread(upgrade, url)
    async with running_api(url, temporal_settings, temporal_client) as api:
        placed = await api.place("carol")
        assert placed.status_code == 202, placed.text
        order_id = placed.json()["order_id"]
        await api.wait_for(order_id, "carol", {"CONFIRMED"})

        await asyncio.to_thread(restartable_pg.stop)

        # Recording the Idempotency-Key needs the database. (Without a key, an order whose
        # prices the API still holds is taken: its saga records it once PostgreSQL is back.)
        refused = await api.place("carol", key="placed-during-the-outage")
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert refused.headers["retry-after"] == "5"
        assert refused.json()["type"] == "/problems/unavailable"
        assert "database" in refused.json()["detail"]

        listed = await api.http.get("/orders", headers=api.auth("carol"))
        assert listed.status_code == 503, listed.text
        assert listed.headers["retry-after"] == "5"

        read = await api.http.get(f"/orders/{order_id}", headers=api.auth("carol"))
        assert read.status_code == 200, read.text
        assert read.json()["status"] == "CONFIRMED"
        assert read.json()["source"] == "workflow"
        stranger = await api.http.get(f"/orders/{order_id}", headers=api.auth("mallory"))
        assert stranger.status_code == 404

        await asyncio.to_thread(restartable_pg.start)

        # A client honouring Retry-After: the first request after the restart may still
        # meet a connection the server closed; within a few tries it is served.
        again = await api.place("carol")
        for _ in range(10):
            if again.status_code != 503:
                break
            await asyncio.sleep(0.5)
            again = await api.place("carol")
        assert again.status_code == 202, again.text
        await api.wait_for(again.json()["order_id"], "carol", {"CONFIRMED"})
        before = await api.http.get(f"/orders/{order_id}", headers=api.auth("carol"))
        assert before.json()["source"] == "read_model"
        assert before.json()["status"] == "CONFIRMED"
