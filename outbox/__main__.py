"""``python -m outbox``: run the relay until SIGTERM/SIGINT (the batch in flight finishes).

Exits 0 at once, saying so, when Kafka is not configured: events then stay in the table.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from config.settings import Settings, load_settings
from outbox.health import RelayHealth
from outbox.relay import build_relay
from persistence.database import create_engine, session_factory
from telemetry.probes import start_probes
from telemetry.setup import RELAY_SERVICE, announce_demo_allowance, configure_telemetry

log = logging.getLogger("outbox")


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    engine = create_engine(settings.database)
    try:
        relay = build_relay(
            session_factory(engine), settings.database, settings.kafka, settings.outbox
        )
        log.info(
            "outbox relay starting: brokers %s, batch %d, poll %.2f s",
            settings.kafka.bootstrap_servers,
            settings.outbox.batch_size,
            settings.outbox.poll_interval_seconds,
        )
        run = asyncio.create_task(relay.run(stop))
        probes = start_probes(settings.telemetry, RelayHealth(relay, run), loop)
        try:
            await run
        finally:
            if probes is not None:
                probes.stop()
    finally:
        await engine.dispose()


def main() -> int:
    settings = load_settings()
    configure_telemetry(settings.telemetry, RELAY_SERVICE)
    announce_demo_allowance(settings)
    if not settings.kafka.enabled:
        log.info(
            "outbox relay off: Kafka is not configured (set KAFKA_BOOTSTRAP_SERVERS or "
            "ORDERS_KAFKA__BOOTSTRAP_SERVERS); events stay in the events table"
        )
        return 0
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
