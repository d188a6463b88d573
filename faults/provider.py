"""The payment provider's outage past the charge budget, as the payments workers see it.

The simulated provider is a client-side gateway over a shared ledger file, so its outage is
switched where the requests start: the payments worker is restarted (drained by SIGTERM)
with a failure rate of 1 — every request fails before it reaches the ledger, exactly like
a provider that answers nothing — and restarted with the normal settings to end it.

The charge budget travels in each saga's input, set by the API from its settings; for this
fault only, the API is restarted with a short budget, so the run need not wait the
production budget out while every other fault keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from devstack.process import port_open, wait_until
from messages import queues

if TYPE_CHECKING:
    from faults.harness import Harness

WORKER = f"worker-{queues.PAYMENTS}"


def _replace(h: Harness, name: str, args: list[str], env: dict[str, str]) -> None:
    h.supervisor.forget(name)
    h.stack.stop_process(name)
    h.stack.spawn(name, args, env)
    process = h.stack.processes[name]
    h.supervisor.watch(name, process, process.describe_exit)


def _payments(h: Harness, env: dict[str, str]) -> None:
    _replace(h, WORKER, [sys.executable, "-m", "workers", "--queue", queues.PAYMENTS], env)


def _api(h: Harness, env: dict[str, str]) -> None:
    port = h.stack.options.api_port
    args = [sys.executable, "-m", "api", "--workers", str(h.stack.options.api_workers)]
    _replace(h, "api", args, {"ORDERS_API__PORT": str(port), **env})
    wait_until(lambda: port_open(port), 60, f"API on port {port}")


@contextlib.asynccontextmanager
async def provider_outage(h: Harness, charge_budget: float) -> AsyncIterator[None]:
    budget = {"ORDERS_SAGA__CHARGE_BUDGET_SECONDS": str(charge_budget)}
    await asyncio.to_thread(_api, h, budget)
    await asyncio.to_thread(_payments, h, {"ORDERS_PAYMENTS__GATEWAY_FAILURE_RATE": "1.0"})
    try:
        yield
    finally:
        await asyncio.to_thread(_payments, h, {})
        await asyncio.to_thread(_api, h, {})
