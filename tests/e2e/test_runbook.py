"""docs/operations.md is executed: every ``sh`` block, in order, against a Temporal dev
server of this test's own, the API on a real port trusting the session's Keycloak, and the
production workers, with real orders (the demo customer alice's) parked in NEEDS_ATTENTION
by a provider outage.

The blocks run as one shell session would: each in a ``bash -euo pipefail`` of its own,
which dumps its environment (``env -0``) as it exits; the next block starts with that
environment and in that working directory. So what a block exports (the runbook's login
exports ``OPERATOR_TOKEN``) carries over, and a variable it sets without exporting does not.
The test gives the first block only what the runbook's conventions say an operator has:
``TEMPORAL_ADDRESS``, ``API``, ``ISSUER`` (Keycloak's realm) and, for the login's password
prompt, ``KEYCLOAK_PASSWORD`` (the demo operator olga's), but no token.

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

from api.auth import TokenVerifier
from clients.temporal import connect_temporal
from config.settings import SagaSettings, TemporalSettings
from devstack.keycloak import Keycloak
from devstack.keycloak_realm import demo_users
from devstack.temporal import TemporalDevServer, temporal_cli
from tests.e2e.harness import TERMINAL, Api, running_api, serve_http
from tests.e2e.keycloak_tokens import KeycloakTokens

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "operations.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
PLACEHOLDER = re.compile(r"<([a-z_]+)>")
JOB_ID = re.compile(r"[Jj]ob ?[Ii][Dd]:?\s+(\S+)")
SHORT = SagaSettings(charge_budget_seconds=2)
USERS = {user.username: user for user in demo_users()}
CUSTOMER = "alice"
# The customer's verified e-mail: a customer may not send notices to another address.
EMAIL = USERS[CUSTOMER].email
OPERATOR = USERS["olga"]


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


class Session:
    """One operator's shell session, block by block: exported variables and the working
    directory carry over from one block to the next. ``timeout``: the most one block may
    take (a block that waits for processes to start and connect needs more than most)."""

    def __init__(
        self, env: dict[str, str], cwd: Path, state: Path, *, timeout: float = 120.0
    ) -> None:
        self.env = env
        self.cwd = cwd
        self._state = state
        self.timeout = timeout

    async def run(self, block: str) -> str:
        # The trap dumps the environment however the block ends; NUL-separated, since a
        # value may hold newlines.
        script = f"trap 'env -0 > \"$RUNBOOK_STATE\"' EXIT\n{block}"
        done = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-euo", "pipefail", "-c", script],
            env={**self.env, "RUNBOOK_STATE": str(self._state)},
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        assert done.returncode == 0, (
            f"{block}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
        pairs = (entry.partition("=") for entry in self._state.read_text().split("\0") if entry)
        self.env = {name: value for name, _, value in pairs if name != "RUNBOOK_STATE"}
        self.cwd = Path(self.env.get("PWD", self.cwd))
        return done.stdout + done.stderr


async def parked(api: Api, count: int) -> list[str]:
    api.gateway.outage(True)
    ids = []
    for _ in range(count):
        placed = await api.place(CUSTOMER, email=EMAIL)
        assert placed.status_code == 202, placed.text
        ids.append(placed.json()["order_id"])
    for order_id in ids:
        await api.wait_for(order_id, CUSTOMER, {"NEEDS_ATTENTION"})
    return ids


async def batch_completed(session: Session, job_id: str) -> str:
    out = ""
    for _ in range(100):
        out = await session.run(f"temporal batch describe --job-id {job_id}")
        if re.search(r"State\s+Completed|\"state\":\s*\"(BATCH_OPERATION_STATE_)?COMPLETED", out):
            return out
        await asyncio.sleep(0.3)
    raise AssertionError(f"batch job {job_id} did not complete:\n{out}")


async def test_every_command_of_the_runbook_works(
    pg_url: str, own_temporal: TemporalSettings, keycloak: Keycloak, tmp_path: Path
) -> None:
    client: Client = await connect_temporal(own_temporal)
    async with running_api(
        pg_url,
        own_temporal,
        client,
        saga=SHORT,
        auth=keycloak.auth_settings(),
        tokens=KeycloakTokens(keycloak),
    ) as api:
        confirmed = (await api.place(CUSTOMER, email=EMAIL)).json()["order_id"]
        await api.wait_for(confirmed, CUSTOMER, {"CONFIRMED"})
        one, other, third = await parked(api, 3)
        api.gateway.outage(False)  # the cause is gone: now the operator decides
        async with serve_http(api) as base:
            inherited = {k: v for k, v in os.environ.items() if not k.startswith("KEYCLOAK_")}
            inherited.pop("OPERATOR_TOKEN", None)  # the runbook's login must make it
            session = Session(
                {
                    **inherited,
                    "PATH": f"{temporal_cli().parent}:{os.environ['PATH']}",
                    "TEMPORAL_ADDRESS": own_temporal.address,
                    "API": base,
                    "ISSUER": keycloak.issuer,
                    "KEYCLOAK_PASSWORD": OPERATOR.password,
                },
                ROOT,
                tmp_path / "runbook-env",
            )
            values = {"order_id": one, "other_order_id": other, "confirmed_order_id": confirmed}
            outputs: list[str] = []
            found = blocks()
            for written in found:
                block = written
                for name in PLACEHOLDER.findall(written):
                    assert name in values, f"no value for <{name}> in:\n{written}"
                    block = block.replace(f"<{name}>", values[name])
                out = await session.run(block)
                outputs.append(out)
                job = JOB_ID.search(out)
                if "--query" in block and "signal" in block:
                    assert job is not None, f"no batch job id in:\n{out}"
                    values["job_id"] = job.group(1)
            assert "job_id" in values
            described = await batch_completed(session, values["job_id"])
            logged_in = await TokenVerifier(api.settings.auth).verify(session.env["OPERATOR_TOKEN"])
            # The maintenance section switched new orders off and on again: they are taken.
            after = (await api.place(CUSTOMER, email=EMAIL)).status_code
        orders = {
            order_id: (await api.wait_for(order_id, CUSTOMER, TERMINAL | {"REFUNDED"}))
            for order_id in (one, other, third, confirmed)
        }
    said = dict(zip(found, outputs, strict=True))
    assert len(outputs) == len(found) >= 11
    # The login block made the token every later block used: olga's, from Keycloak.
    assert (logged_in.subject, logged_in.is_operator) == (OPERATOR.subject, True)
    assert orders[one]["status"] == "CONFIRMED"
    assert orders[other]["status"] == "CANCELLED"
    assert orders[third]["status"] == "CONFIRMED"  # moved on by the batch retry
    assert orders[confirmed]["status"] == "REFUNDED"
    listed = next(out for block, out in said.items() if "workflow list" in block)
    assert one in listed  # the list found the parked orders
    timeline = next(out for block, out in said.items() if "/events" in block)
    assert OPERATOR.subject is not None
    assert OPERATOR.subject in timeline  # the refund's actor: the verified subject
    decoded = next(out for block, out in said.items() if "--codec-endpoint" in block)
    assert EMAIL in decoded  # decoded through the codec endpoint
    paused = next(out for block, out in said.items() if '"active": true' in block)
    assert "HTTP/1.1 503" in paused
    assert "retry-after: 600" in paused.lower()
    assert "/problems/maintenance" in paused
    assert '"held_by_setting":false' in paused  # the readiness body shows the switch
    assert '"active":true' in paused
    assert after == 202
    assert "Completed" in described or "COMPLETED" in described
