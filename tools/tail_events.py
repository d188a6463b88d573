"""Print the events on a topic as they arrive, one readable line each.

    python -m tools.tail_events --topic order-events [--from-beginning] [--max-messages N]

The brokers come from the settings (``KAFKA_BOOTSTRAP_SERVERS``) unless ``--bootstrap-servers``
is given. A throwaway consumer group that never commits: tailing leaves no trace.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from confluent_kafka import Consumer, Message

from config.settings import KafkaSettings, load_settings
from devstack.supervisor import StopRequest
from outbox.cloudevents import InvalidEventMessageError, from_message


def describe(message: Message) -> str:
    """``time  type  key=…  ce_id=…  by=kind:subject[/role]  partition/offset  data``."""
    where = f"{message.partition()}/{message.offset()}"
    try:
        event = from_message(message)
    except InvalidEventMessageError as exc:
        raw = (message.value() or b"").decode(errors="replace")
        return f"(not an event: {exc})  {where}  {raw}"
    time = event.time.isoformat().replace("+00:00", "Z") if event.time else "-"
    data = json.dumps(event.data, ensure_ascii=False, separators=(", ", ": "))
    actor = event.actor
    by = "-" if actor is None else f"{actor.kind}:{actor.subject}"
    if actor is not None and actor.role is not None:
        by += f"/{actor.role}"
    return (
        f"{time}  {event.event_type}.v{event.schema_version}  key={event.key}  "
        f"ce_id={event.event_id}  by={by}  {where}  {data}"
    )


def _consumer(bootstrap_servers: str, from_beginning: bool, kafka: KafkaSettings) -> Consumer:
    config: dict[str, Any] = {
        **kafka.client_config(),  # TLS and SASL as the settings say
        "bootstrap.servers": bootstrap_servers,
        "group.id": f"tail-events-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest" if from_beginning else "latest",
    }
    return Consumer(config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.tail_events", description=__doc__)
    parser.add_argument("--topic", required=True, help="e.g. order-events")
    parser.add_argument("--from-beginning", action="store_true", help="start at the oldest")
    parser.add_argument("--bootstrap-servers", default=None, help="default: from the settings")
    parser.add_argument("--max-messages", type=int, default=0, help="stop after N (0: never)")
    args = parser.parse_args(argv)

    kafka = load_settings().kafka
    bootstrap = args.bootstrap_servers or kafka.bootstrap_servers
    if not bootstrap:
        print("no Kafka configured: pass --bootstrap-servers or set KAFKA_BOOTSTRAP_SERVERS")
        return 2
    stop = StopRequest()
    consumer = _consumer(bootstrap, args.from_beginning, kafka)
    consumer.subscribe([args.topic])
    printed = 0
    try:
        while not stop.requested and (args.max_messages <= 0 or printed < args.max_messages):
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                print(f"# {message.error()}", file=sys.stderr)
                continue
            print(describe(message), flush=True)
            printed += 1
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
