"""The payment provider's outage past the charge budget.

The stack's one shared provider service (``python -m provider``) is switched into its
outage through its admin endpoint, as ``python -m tools.provider outage on|off`` does:
every payments worker sees it at once, as it would a real provider's.

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
from tools.provider import switch_outage

if TYPE_CHECKING:
    from faults.harness import Harness


def _api(h: Harness, env: dict[str, str]) -> None:
    port = h.stack.options.api_port
    args = [sys.executable, "-m", "api", "--workers", str(h.stack.options.api_workers)]
    h.supervisor.forget("api")
    h.stack.stop_process("api")
    h.stack.spawn("api", args, {"ORDERS_API__PORT": str(port), **env})
    process = h.stack.processes["api"]
    h.supervisor.watch("api", process, process.describe_exit)
    wait_until(lambda: port_open(port), 60, f"API on port {port}")


@contextlib.asynccontextmanager
async def provider_outage(h: Harness, charge_budget: float) -> AsyncIterator[None]:
    provider = h.stack.provider
    if provider is None:
        raise RuntimeError("the stack runs no provider service (ORDERS_PAYMENTS__* set?)")
    budget = {"ORDERS_SAGA__CHARGE_BUDGET_SECONDS": str(charge_budget)}
    await asyncio.to_thread(_api, h, budget)
    await asyncio.to_thread(switch_outage, provider.url, True, token=provider.token)
    try:
        yield
    finally:
        await asyncio.to_thread(switch_outage, provider.url, False, token=provider.token)
        await asyncio.to_thread(_api, h, {})
