"""Events rows <-> Kafka messages in CloudEvents 1.0 binary content mode.

The ``cloudevents`` package's Kafka binding does the mapping (``ce_`` headers, the
``content-type`` header, RFC 3339 ``ce_time``), so producer and consumers agree with any
other CloudEvents SDK. Two things are added here:

- ``traceparent`` as a plain header: that is where OpenTelemetry's Kafka propagators look
  (a ``ce_traceparent`` extension would be invisible to them).
- ``ce_type`` = ``com.example.orders.<EventType>.v<schema_version>``: the version is part of
  the type, so a consumer routes on one header and never parses a body it does not know.
- Who caused the event, as extension attributes: ``ce_actorkind`` (user, operator, system),
  ``ce_actor`` (its subject) and ``ce_actorrole`` (when it has one). In the envelope, not the
  body: it is about the event, like ``ce_source``, and a consumer can filter on it unparsed.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from confluent_kafka import Message

from models.actor import Actor
from persistence.event_store import actor_of
from persistence.tables import EventRow

SPECVERSION: Final = "1.0"
CE_TYPE_PREFIX: Final = "com.example.orders"
CONTENT_TYPE: Final = "application/json"
TRACEPARENT_HEADER: Final = "traceparent"
SCHEMA_VERSION_FIELD: Final = "schema_version"
# CloudEvents extension attributes (lower-case letters and digits only, per the spec).
ACTOR_KIND: Final = "actorkind"
ACTOR: Final = "actor"
ACTOR_ROLE: Final = "actorrole"
_CE_TYPE = re.compile(rf"^{re.escape(CE_TYPE_PREFIX)}\.(?P<name>[A-Za-z0-9]+)\.v(?P<version>\d+)$")
_FORMAT: Final = JSONFormat()


class InvalidEventMessageError(ValueError):
    """A Kafka message that is not one of our CloudEvents (no ``ce_id``, bad type, bad body)."""


def ce_type(event_type: str, schema_version: int) -> str:
    return f"{CE_TYPE_PREFIX}.{event_type}.v{schema_version}"


def parse_ce_type(value: str) -> tuple[str, int]:
    """``com.example.orders.OrderCreated.v1`` -> ``("OrderCreated", 1)``."""
    match = _CE_TYPE.match(value)
    if match is None:
        raise InvalidEventMessageError(f"ce_type {value!r} is not {CE_TYPE_PREFIX}.<Type>.v<N>")
    return match["name"], int(match["version"])


def message_body(event_data: dict[str, Any], schema_version: int) -> dict[str, Any]:
    """What goes on the wire: the stored payload plus its ``schema_version``, so a body
    read on its own (a log, a dead-letter topic) still says which schema it follows."""
    return {**event_data, SCHEMA_VERSION_FIELD: schema_version}


@dataclass(frozen=True)
class OutgoingMessage:
    event_id: uuid.UUID
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def to_message(row: EventRow, topic: str, source: str) -> OutgoingMessage:
    """The Kafka message for one events row: key = aggregate id, binary-mode headers."""
    attributes: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": str(row.event_id),
        "source": source,
        "type": ce_type(row.event_type, row.schema_version),
        "time": row.occurred_at.astimezone(UTC),
        "subject": row.aggregate_id,
        "datacontenttype": CONTENT_TYPE,
        **actor_attributes(actor_of(row)),
    }
    body = message_body(row.event_data, row.schema_version)
    # Serialised here, compactly, instead of by the format: the bytes are the contract.
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    binary = to_binary(CloudEvent(attributes, data), _FORMAT)
    headers = list(binary.headers.items())
    if row.traceparent:
        headers.append((TRACEPARENT_HEADER, row.traceparent.encode()))
    return OutgoingMessage(
        event_id=row.event_id,
        topic=topic,
        key=row.aggregate_id.encode(),
        value=binary.value,
        headers=headers,
    )


def actor_attributes(actor: Actor | None) -> dict[str, str]:
    """The extension attributes naming ``actor``; none for events that did not record one."""
    if actor is None:
        return {}
    attributes = {ACTOR_KIND: actor.kind, ACTOR: actor.subject}
    if actor.role is not None:
        attributes[ACTOR_ROLE] = actor.role
    return attributes


def _actor_from(event: BaseCloudEvent) -> Actor | None:
    attributes = event.get_attributes()
    kind, subject = attributes.get(ACTOR_KIND), attributes.get(ACTOR)
    if kind not in ("user", "operator", "system") or not subject:
        return None
    role = attributes.get(ACTOR_ROLE)
    return Actor(kind=kind, subject=str(subject), role=str(role) if role else None)


@dataclass(frozen=True)
class ReceivedEvent:
    """One of our events as a consumer sees it, read back from a Kafka message."""

    event_id: uuid.UUID
    event_type: str
    schema_version: int
    ce_type: str
    source: str
    subject: str | None
    time: datetime | None
    key: str | None
    data: dict[str, Any]
    traceparent: str | None
    topic: str
    partition: int
    offset: int
    # Who caused it (ce_actor* extension attributes); None when the producer did not say.
    actor: Actor | None = None


def from_message(message: Message) -> ReceivedEvent:
    """Parse a confluent-kafka ``Message``; ``InvalidEventMessageError`` if it is not ours."""
    received = message.headers() or []
    pairs = received.items() if isinstance(received, dict) else received
    headers = {name: _bytes(value) for name, value in pairs}
    if "ce_id" not in headers:
        raise InvalidEventMessageError("no ce_id header: not a CloudEvents binary-mode message")
    raw = KafkaMessage(headers=headers, key=message.key(), value=message.value() or b"")
    try:
        event = from_binary(raw, _FORMAT)
        event_id = uuid.UUID(event.get_id())
    except (BaseCloudEventException, ValueError) as exc:
        raise InvalidEventMessageError(f"not a valid CloudEvent: {exc}") from exc
    data = event.get_data()
    if not isinstance(data, dict):
        raise InvalidEventMessageError("the body is not a JSON object")
    event_type, schema_version = parse_ce_type(event.get_type())
    traceparent = headers.get(TRACEPARENT_HEADER)
    key = message.key()
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise InvalidEventMessageError("a message without topic, partition or offset")
    return ReceivedEvent(
        event_id=event_id,
        event_type=event_type,
        schema_version=schema_version,
        ce_type=event.get_type(),
        source=event.get_source(),
        subject=event.get_subject(),
        time=event.get_time(),
        key=key.decode() if isinstance(key, bytes) else key,
        data=data,
        traceparent=traceparent.decode() if traceparent else None,
        topic=topic,
        partition=partition,
        offset=offset,
        actor=_actor_from(event),
    )


def _bytes(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else value
