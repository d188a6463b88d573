"""docs/operations.md is executed: every ``sh`` block, in order, against a Temporal dev
server of this test's own, the API on a real port and the production workers, with real
orders parked in NEEDS_ATTENTION by a provider outage.

The placeholders follow the runbook's convention: ``<order_id>``, ``<other_order_id>``
(parked orders), ``<confirmed_order_id>`` (a confirmed order), ``<job_id>`` (from the batch
command's output). A block with a placeholder the test cannot fill, a command that fails,
or a batch job that does not complete fails the test.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from temporalio.client import Client

from clients.temporal import connect_temporal
from config.settings import SagaSettings, TemporalSettings
from devstack.temporal import TemporalDevServer, temporal_cli
from tests.e2e.harness import TERMINAL, Api, running_api, serve_http

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
PLACEHOLDER = re.compile(r"<([a-z_]+)>")
JOB_ID = re.compile(r"[Jj]ob ?[Ii][Dd]:?\s+(\S+)")
SHORT = SagaSettings(charge_budget_seconds=2)
EMAIL = "runbook-customer@example.com"


def blocks() -> list[str]:
    return BLOCK.findall(RUNBOOK.read_text())


@pytest_asyncio.fixture(loop_scope="session")
async def own_temporal(tmp_path: Path) -> AsyncIterator[TemporalSettings]:
    """A dev server for this test alone: the runbook's batch signal covers every parked
    order of the namespace, so no other test's orders may be in it."""
    server = await asyncio.to_thread(TemporalDevServer(tmp_path / "temporal", headless=True).start)
    try:
        yield TemporalSettings(address=server.address)
    finally:
        await asyncio.to_thread(server.stop)


async def run_block(block: str, env: dict[str, str]) -> str:
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", block],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{block}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


async def parked(api: Api, count: int) -> list[str]:
    api.gateway.outage(True)
    ids = []
    for _ in range(count):
        placed = await api.place("runbook-customer", email=EMAIL)
        assert placed.status_code == 202, placed.text
        ids.append(placed.json()["order_id"])
    for order_id in ids:
        await api.wait_for(order_id, "runbook-customer", {"NEEDS_ATTENTION"})
    return ids


async def batch_completed(env: dict[str, str], job_id: str) -> str:
    out = ""
    for _ in range(100):
        out = await run_block(f"temporal batch describe --job-id {job_id}", env)
        if re.search(r"State\s+Completed|\"state\":\s*\"(BATCH_OPERATION_STATE_)?COMPLETED", out):
            return out
        await asyncio.sleep(0.3)
    raise AssertionError(f"batch job {job_id} did not complete:\n{out}")


async def test_every_command_of_the_runbook_works(
    pg_url: str, own_temporal: TemporalSettings
) -> None:
    client: Client = await connect_temporal(own_temporal)
    async with running_api(pg_url, own_temporal, client, saga=SHORT) as api:
        confirmed = (await api.place("runbook-customer", email=EMAIL)).json()["order_id"]
        await api.wait_for(confirmed, "runbook-customer", {"CONFIRMED"})
        one, other, third = await parked(api, 3)
        api.gateway.outage(False)  # the cause is gone: now the operator decides
        async with serve_http(api) as base:
            env = {
                **os.environ,
                "PATH": f"{temporal_cli().parent}:{os.environ['PATH']}",
                "TEMPORAL_ADDRESS": own_temporal.address,
                "API": base,
                "OPERATOR_TOKEN": api.auth("ops-alice", "operator")["Authorization"].split()[1],
            }
            values = {"order_id": one, "other_order_id": other, "confirmed_order_id": confirmed}
            outputs: list[str] = []
            found = blocks()
            for written in found:
                block = written
                for name in PLACEHOLDER.findall(written):
                    assert name in values, f"no value for <{name}> in:\n{written}"
                    block = block.replace(f"<{name}>", values[name])
                out = await run_block(block, env)
                outputs.append(out)
                job = JOB_ID.search(out)
                if "--query" in block and "signal" in block:
                    assert job is not None, f"no batch job id in:\n{out}"
                    values["job_id"] = job.group(1)
            assert "job_id" in values
            described = await batch_completed(env, values["job_id"])
        orders = {
            order_id: (await api.wait_for(order_id, "runbook-customer", TERMINAL | {"REFUNDED"}))
            for order_id in (one, other, third, confirmed)
        }
    assert len(outputs) == len(found) >= 8
    assert orders[one]["status"] == "CONFIRMED"
    assert orders[other]["status"] == "CANCELLED"
    assert orders[third]["status"] == "CONFIRMED"  # moved on by the batch retry
    assert orders[confirmed]["status"] == "REFUNDED"
    assert one in outputs[1]  # the list found the parked orders
    assert EMAIL in outputs[-1]  # decoded through the codec endpoint
    assert "Completed" in described or "COMPLETED" in described
