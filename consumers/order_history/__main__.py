"""``python -m consumers.order_history``: build the order-history read model from Kafka.

Runs until SIGTERM/SIGINT: the batch in flight is applied and its offsets committed, then
the process exits 0. ``--show CUSTOMER_ID`` prints that customer's history and exits.
Exits 2 when Kafka is not configured, 1 when a handler keeps failing and
``ORDERS_CONSUMER__ON_EXHAUSTED=stop``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from prometheus_client import CollectorRegistry, start_http_server

from config.settings import Settings, load_settings
from consumers.metrics import ConsumerMetrics
from consumers.order_history.service import build, ensure_dead_letter_topics, run
from outbox.consumer import HandlerExhaustedError
from persistence.database import create_engine, session_factory
from persistence.order_history import customer_history
from telemetry.setup import announce_demo_allowance, configure_telemetry

log = logging.getLogger("consumers.order_history")
SERVICE_NAME = "order-history-consumer"


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    registry = CollectorRegistry()
    metrics = ConsumerMetrics(
        registry, settings.consumer.group, settings.consumer.lag_interval_seconds
    )
    if settings.consumer.metrics_port:
        start_http_server(settings.consumer.metrics_port, registry=registry)
        log.info("metrics on http://0.0.0.0:%d/metrics", settings.consumer.metrics_port)
    engine = create_engine(settings.database)
    built = build(settings, session_factory(engine))
    try:
        await asyncio.to_thread(ensure_dead_letter_topics, settings, built.topics)
        log.info(
            "order-history consumer %s starting: brokers %s, group %s, topics %s",
            settings.consumer.name,
            settings.kafka.bootstrap_servers,
            settings.consumer.group,
            ", ".join(built.topics),
        )
        await run(built, settings, stop, metrics)
        log.info("order-history consumer stopped: offsets committed")
    finally:
        await built.close()
        await engine.dispose()


async def show(settings: Settings, customer_id: str) -> None:
    engine = create_engine(settings.database)
    try:
        async with session_factory(engine)() as session:
            rows = await customer_history(session, customer_id)
    finally:
        await engine.dispose()
    for row in rows:
        placed = row.placed_at.isoformat() if row.placed_at else "-"
        total = f"{row.total_amount} {row.currency}" if row.total_amount is not None else "-"
        sys.stdout.write(
            f"{row.order_id}  {row.status:<14} {total:>14}  placed {placed}  "
            f"last {row.last_event_type}\n"
        )
    sys.stdout.write(f"{len(rows)} orders for {customer_id}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumers.order_history", description=__doc__)
    parser.add_argument("--show", metavar="CUSTOMER_ID", help="print a customer's history")
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_telemetry(settings.telemetry, SERVICE_NAME)
    announce_demo_allowance(settings)
    if args.show:
        asyncio.run(show(settings, args.show))
        return 0
    if not settings.kafka.enabled:
        log.error(
            "no Kafka configured: set KAFKA_BOOTSTRAP_SERVERS or ORDERS_KAFKA__BOOTSTRAP_SERVERS"
        )
        return 2
    try:
        asyncio.run(serve(settings))
    except HandlerExhaustedError as exc:
        log.error("stopping: %s (ORDERS_CONSUMER__ON_EXHAUSTED=stop)", exc)  # noqa: TRY400
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
