"""The AsyncAPI 3 document of the event topics, generated from the same source as the schemas.

``python -m outbox.schemas`` writes it to ``schemas/asyncapi.yaml`` beside the JSON Schemas:
one channel per topic (default names from ``KafkaSettings``), one message per event type with
its CloudEvents headers (``ce_type`` fixed per message), its Kafka key and its payload, which
is the event's JSON Schema (:func:`outbox.schemas.event_schema`) with its ``$defs`` inlined so
the document stands alone. ``tests/unit/test_asyncapi.py`` checks that the committed file is
what this generates, and validates it with the AsyncAPI parser.
"""

from __future__ import annotations

import copy
from dataclasses import fields, is_dataclass
from typing import Any, Final

import yaml

from config.settings import KafkaSettings
from models.events import EVENT_TYPES, DomainEvent
from outbox.cloudevents import (
    ACTOR,
    ACTOR_KIND,
    ACTOR_ROLE,
    CONTENT_TYPE,
    SPECVERSION,
    TRACEPARENT_HEADER,
    ce_type,
)
from outbox.topics import topics_by_aggregate

ASYNCAPI_VERSION: Final = "3.0.0"
# The version of the document, not of any one event: bumped by hand when a release changes it.
DOCUMENT_VERSION: Final = "1.1.0"
KAFKA_BINDING_VERSION: Final = "0.5.0"
_TOPIC_DESCRIPTIONS: Final = {
    "order": "An order's life: created, confirmed, cancelled, rejected.",
    "inventory": "Reservations per order; restocks and low-stock alerts per product.",
    "payment": "Charges, failures, refunds and voids per order.",
    "notification": "Notices sent to customers and operator alerts.",
}


# What each event means, as docs/events.md's table says it (a test keeps one per type).
SUMMARIES: Final = {
    "OrderCreated": "An order was recorded, its items priced from the catalog.",
    "OrderConfirmed": "The saga completed: stock reserved, payment taken, customer notified.",
    "OrderCancelled": "The order was cancelled by its customer or an operator.",
    "OrderRejected": "The order could not be fulfilled, e.g. out of stock.",
    "InventoryReserved": "Stock was reserved for the order's items.",
    "InventoryReservationFailed": "Not enough stock for one of the order's products.",
    "InventoryReleased": "A reservation was given back (payment failed, order cancelled).",
    "InventoryRestocked": "Stock arrived for a product (keyed by product).",
    "LowStockDetected": "A product's available stock fell under its reorder point.",
    "PaymentProcessed": "Money was authorised or captured.",
    "PaymentFailed": "The payment was declined or the provider failed.",
    "PaymentRefunded": "Captured money was returned (cancellation after the charge).",
    "PaymentVoided": "An authorisation was released before capture: no money moved.",
    "NotificationSent": "A notice went out to a customer, or an alert to the operators.",
    "OrderNeedsAttention": "The saga parked the order for an operator: a step ran out of its "
    "budget or failed unexpectedly.",
    "OrderRetried": "An operator sent a parked order back to its step with a fresh budget.",
    "PaymentActionRequired": "The provider waits for the customer (3-D Secure, a wallet, a "
    "bank redirect).",
    "OrderRefunded": "An operator refunded a confirmed order after the sale, in full or in part.",
    "InventoryReturned": "Returned items of a refunded order went back into stock.",
}


def _header(description: str, **schema: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **schema}


def _headers(cls: type[DomainEvent]) -> dict[str, Any]:
    """The Kafka headers of ``cls``'s messages: CloudEvents 1.0 binary content mode."""
    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
        "properties": {
            "ce_specversion": _header("CloudEvents version.", const=SPECVERSION),
            "ce_id": _header("The event id: deduplicate on it.", format="uuid"),
            "ce_source": _header("ORDERS_KAFKA__EVENT_SOURCE, by default /order-saga."),
            "ce_type": _header(
                "Event type and schema version.", const=ce_type(cls.__name__, cls.schema_version)
            ),
            "ce_time": _header("When it happened, RFC 3339 in UTC.", format="date-time"),
            "ce_subject": _header("The aggregate id (the same as the key)."),
            "content-type": _header("Media type of the value.", const=CONTENT_TYPE),
            TRACEPARENT_HEADER: _header("W3C trace context of the request that caused it."),
            f"ce_{ACTOR_KIND}": _header(
                "Who caused it: a user (verified token), an operator (declared in a CLI "
                "signal, not verified) or the system. Absent on events recorded before "
                "actors were.",
                enum=["user", "operator", "system"],
            ),
            f"ce_{ACTOR}": _header("The actor's subject: user id, operator name, order-saga."),
            f"ce_{ACTOR_ROLE}": _header(
                "The role a user acted in (customer, operator, catalog-admin)."
            ),
        },
    }


def _key_description(cls: type[DomainEvent]) -> str:
    names = {field.name for field in fields(cls)} if is_dataclass(cls) else set()
    if "order_id" not in names:
        return "The product id."
    if "notification_id" in names:
        return "The order id; the notification id for operator alerts (no order)."
    return "The order id."


def inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without ``$defs``: each ``#/$defs/X`` reference replaced by X itself.

    Inside a larger document a local reference would resolve against that document's root;
    our event schemas have no recursive types, so inlining always terminates.
    """
    definitions = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(copy.deepcopy(definitions[ref.removeprefix("#/$defs/")]))
            return {key: resolve(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    inlined: dict[str, Any] = resolve(schema)
    return inlined


def _message(cls: type[DomainEvent], payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": cls.__name__,
        "title": f"{cls.__name__} v{cls.schema_version}",
        "summary": SUMMARIES[cls.__name__],
        "contentType": CONTENT_TYPE,
        "headers": _headers(cls),
        "payload": {key: value for key, value in inline_defs(payload).items() if key != "$schema"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": _key_description(cls)},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def asyncapi_document(schemas: dict[type[DomainEvent], dict[str, Any]]) -> dict[str, Any]:
    """The document for the current event types, given each one's JSON Schema."""
    kafka = KafkaSettings()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for aggregate, topic in topics_by_aggregate(kafka).items():
        types = [cls for cls in EVENT_TYPES.values() if cls.aggregate_type == aggregate]
        channel = f"{aggregate}Events"
        channels[channel] = {
            "address": topic,
            "title": topic,
            "description": f"{_TOPIC_DESCRIPTIONS[aggregate]} Name: ORDERS_KAFKA__"
            f"{aggregate.upper()}_TOPIC.",
            "messages": {
                cls.__name__: {"$ref": f"#/components/messages/{cls.__name__}"} for cls in types
            },
            "bindings": {
                "kafka": {
                    "topic": topic,
                    "partitions": kafka.partitions,
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
        }
        operations[f"publish{channel[0].upper()}{channel[1:]}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"The outbox relay publishes every {aggregate} event, after commit.",
            "messages": [
                {"$ref": f"#/channels/{channel}/messages/{cls.__name__}"} for cls in types
            ],
        }
        messages.update({cls.__name__: _message(cls, schemas[cls]) for cls in types})
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Order saga domain events",
            "version": DOCUMENT_VERSION,
            "description": (
                "Domain events of the order saga, published by its outbox relay: CloudEvents "
                "1.0 in Kafka binary mode, at least once (deduplicate on ce_id), in order per "
                "key. Generated by `python -m outbox.schemas`; see docs/events.md."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "development": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "`make dev ARGS=--kafka`; elsewhere KAFKA_BOOTSTRAP_SERVERS.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render_yaml(document: dict[str, Any]) -> str:
    header = "# Generated by `python -m outbox.schemas` (make schemas); do not edit.\n"
    body: str = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return header + body
