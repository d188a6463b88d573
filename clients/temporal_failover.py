"""Moving a running process to another Temporal frontend when its own stops answering.

The Python SDK connects a client to one target and has no list of addresses, so with
``ORDERS_TEMPORAL__ADDRESS=a:7233,b:7233`` each process watches the frontend it uses:
after ``failover_after_failures`` failed probes in a row it connects to the next address
that answers and hands the new client to its users (workers take it through the SDK's
``Worker.client`` setter; the API swaps the client its routes use). Calls already on the
way keep retrying within ``rpc_retry_seconds``. With one address this only waits: the
SDK reconnects to the same target by itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from temporalio.client import Client
from temporalio.runtime import Runtime

from clients.temporal import connect_temporal
from config.settings import TemporalSettings

log = logging.getLogger(__name__)

PROBE_TIMEOUT = timedelta(seconds=1)


async def frontend_answers(client: Client) -> bool:
    try:
        return await client.service_client.check_health(timeout=PROBE_TIMEOUT)
    except Exception:  # any failure to answer counts the same
        return False


class FrontendFailover:
    """Probes the current client's frontend and replaces the client when it is gone."""

    def __init__(
        self,
        settings: TemporalSettings,
        client: Client,
        on_switch: Callable[[Client], None],
        runtime: Runtime | None = None,
    ) -> None:
        self.settings = settings
        # A worker's clients share its runtime: the SDK metrics endpoint is bound once.
        self.runtime = runtime
        self.client = client
        self.on_switch = on_switch
        self.switches = 0

    @property
    def current_address(self) -> str:
        return self.client.service_client.config.target_host

    async def run(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self.settings.failover_probe_seconds)
            if await frontend_answers(self.client):
                failures = 0
                continue
            failures += 1
            if failures >= self.settings.failover_after_failures and await self._switch():
                failures = 0

    async def _switch(self) -> bool:
        addresses = self.settings.addresses
        if len(addresses) < 2:
            return False
        current = self.current_address
        start = (addresses.index(current) + 1) if current in addresses else 0
        try:
            client = await connect_temporal(self.settings, start_at=start, runtime=self.runtime)
        except RuntimeError as exc:
            log.warning("no other Temporal frontend answers yet: %s", exc)
            return False
        if client.service_client.config.target_host == current:
            return False
        log.warning(
            "Temporal frontend %s stopped answering; moving to %s",
            current,
            client.service_client.config.target_host,
        )
        self.client = client
        self.switches += 1
        self.on_switch(client)
        return True
