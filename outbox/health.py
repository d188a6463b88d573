"""Is the relay alive, and ready: the brokers reachable and the outbox lag known?

Ready does not mean leading: a standby relay (another one holds the lease) is ready to
take over, which is what the probe should say about it.
"""

from __future__ import annotations

import asyncio
import time

from outbox.relay import OutboxRelay
from telemetry.probes import CachedCheck

__all__ = ["RelayHealth"]

CACHE_SECONDS = 3.0


class RelayHealth:
    def __init__(self, relay: OutboxRelay, run: asyncio.Task[None]) -> None:
        self._relay = relay
        self._run = run
        self._fresh = CachedCheck(self._brokers_and_lag, CACHE_SECONDS)

    async def live(self) -> str | None:
        if self._run.done():
            error = None if self._run.cancelled() else self._run.exception()
            return f"the relay stopped: {error!r}"
        return None

    async def ready(self) -> str | None:
        return await self.live() or await self._fresh()

    async def _brokers_and_lag(self) -> str | None:
        return await self._relay.broker_problem() or self._lag_problem()

    def _lag_problem(self) -> str | None:
        now = time.monotonic()
        sampled = self._relay.lag_sampled_at
        if sampled is None:
            return "the outbox lag has not been sampled yet"
        # Three missed samples in a row: the database is away.
        if now - sampled > 3 * self._relay.lag_sample_seconds + CACHE_SECONDS:
            return f"the outbox lag is unknown for {now - sampled:.0f}s (database away?)"
        return None
