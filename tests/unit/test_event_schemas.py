"""The published event schemas (``schemas/events``) agree with the models and the wire format."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

# jsonschema ships no type hints and types-jsonschema is not a dev dependency.
from jsonschema import Draft202012Validator, ValidationError

from models.events import (
    EVENT_TYPES,
    DomainEvent,
    EventItem,
    InventoryReleased,
    InventoryReservationFailed,
    InventoryReserved,
    InventoryRestocked,
    InventoryReturned,
    LowStockDetected,
    NotificationSent,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderNeedsAttention,
    OrderRefunded,
    OrderRejected,
    OrderRetried,
    PaymentActionRequired,
    PaymentFailed,
    PaymentProcessed,
    PaymentRefunded,
    PaymentVoided,
)
from outbox.cloudevents import message_body
from outbox.schemas import SCHEMA_DIR, expected_files, schema_filename
from persistence.event_store import event_payload

ORDER = "0b9c7f3e-5d1a-4c1e-9a57-8f0e2d6c4b11"
LINES = (
    EventItem(product_id="sku-espresso-beans", quantity=2, unit_price=Decimal("12.50")),
    EventItem(product_id="sku-grinder", quantity=1, unit_price=Decimal("89.00")),
)
STOCK_LINES = (EventItem(product_id="sku-espresso-beans", quantity=2),)

# One realistic instance per event type, as the activities write them.
SAMPLES: dict[str, DomainEvent] = {
    "OrderCreated": OrderCreated(
        order_id=ORDER,
        customer_id="customer-1",
        items=LINES,
        total_amount=Decimal("114.00"),
        currency="EUR",
    ),
    "OrderConfirmed": OrderConfirmed(order_id=ORDER),
    "OrderCancelled": OrderCancelled(order_id=ORDER, reason="customer called"),
    "OrderRejected": OrderRejected(order_id=ORDER, reason="out of stock: sku-grinder"),
    "OrderNeedsAttention": OrderNeedsAttention(
        order_id=ORDER, step="charge", reason="payment unavailable: gave up after 10 minutes"
    ),
    "OrderRetried": OrderRetried(order_id=ORDER, step="charge", actor="alice"),
    "PaymentActionRequired": PaymentActionRequired(
        order_id=ORDER, payment_id="pay-1", next_action="https://pay.example/act/ch_1"
    ),
    "InventoryReserved": InventoryReserved(order_id=ORDER, items=STOCK_LINES),
    "InventoryReservationFailed": InventoryReservationFailed(
        order_id=ORDER, product_id="sku-grinder", requested=3, available=1
    ),
    "InventoryReleased": InventoryReleased(order_id=ORDER, items=STOCK_LINES),
    "InventoryReturned": InventoryReturned(order_id=ORDER, items=STOCK_LINES),
    "OrderRefunded": OrderRefunded(
        order_id=ORDER,
        amount=Decimal("12.50"),
        currency="EUR",
        items=STOCK_LINES,
        reason="returned: damaged",
        actor="alice",
        refund_reference="re_1",
    ),
    "InventoryRestocked": InventoryRestocked(
        product_id="sku-grinder", quantity_added=20, quantity_on_hand=21
    ),
    "LowStockDetected": LowStockDetected(
        product_id="sku-grinder", available=1, reorder_point=5, reorder_quantity=20
    ),
    "PaymentProcessed": PaymentProcessed(
        order_id=ORDER,
        payment_id="pay-1",
        amount=Decimal("114.00"),
        currency="EUR",
        status="CAPTURED",
    ),
    "PaymentFailed": PaymentFailed(order_id=ORDER, reason="card declined"),
    "PaymentRefunded": PaymentRefunded(
        order_id=ORDER, payment_id="pay-1", amount=Decimal("114.00"), currency="EUR"
    ),
    "PaymentVoided": PaymentVoided(
        order_id=ORDER, payment_id="pay-1", amount=Decimal("114.00"), currency="EUR"
    ),
    "NotificationSent": NotificationSent(
        notification_id="ntf-1",
        order_id=ORDER,
        customer_id="customer-1",
        notification_type="ORDER_CONFIRMED",
        channel="log",
    ),
}
FILE_NAME = re.compile(r"^(?P<name>[A-Za-z0-9]+)\.v(?P<version>\d+)\.json$")


def committed_schema(cls: type[DomainEvent]) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / schema_filename(cls)).read_text())
    return schema


def wire_body(event: DomainEvent) -> dict[str, Any]:
    """The message value the relay sends for ``event``, as consumers parse it."""
    return message_body(event_payload(event), type(event).schema_version)


def test_committed_schemas_match_the_models() -> None:
    """Every event type has its schema file, identical to what the models generate now;
    a changed model without regenerated (or, if incompatible, re-versioned) schemas fails."""
    stale = [
        name
        for name, text in expected_files().items()
        if not (SCHEMA_DIR / name).exists() or (SCHEMA_DIR / name).read_text() != text
    ]
    assert not stale, (
        f"schemas out of date: {stale}. Run `python -m outbox.schemas`; if the change is "
        "not backward compatible, bump the event's schema_version first."
    )


def test_no_schema_file_names_an_unknown_event_or_a_future_version() -> None:
    """Files of older versions may stay for old events; anything else is a stray."""
    for path in SCHEMA_DIR.glob("*.json"):
        match = FILE_NAME.match(path.name)
        assert match, f"{path.name} is not <EventType>.v<N>.json"
        cls = EVENT_TYPES.get(match["name"])
        assert cls is not None, f"{path.name}: no event type {match['name']}"
        assert int(match["version"]) <= cls.schema_version, f"{path.name}: version from the future"


def test_every_schema_is_a_valid_2020_12_json_schema() -> None:
    """The files are schemas any JSON Schema tool accepts, not merely JSON."""
    for cls in EVENT_TYPES.values():
        Draft202012Validator.check_schema(committed_schema(cls))


def test_every_event_type_has_a_sample() -> None:
    """A new event type must come with a sample, so its schema is exercised below."""
    assert set(SAMPLES) == set(EVENT_TYPES)
    assert all(type(event) is EVENT_TYPES[name] for name, event in SAMPLES.items())


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_serialised_sample_validates_against_its_schema(event_type: str) -> None:
    """The body the relay sends (event_payload + schema_version) is valid under the
    committed schema of its type and version."""
    event = SAMPLES[event_type]
    Draft202012Validator(committed_schema(type(event))).validate(wire_body(event))


def test_operator_alert_without_order_validates() -> None:
    """Nullable fields are nullable in the schema too (a low-stock alert has no order)."""
    alert = NotificationSent(
        notification_id="ntf-2",
        order_id=None,
        customer_id=None,
        notification_type="LOW_STOCK",
        channel="log",
    )
    Draft202012Validator(committed_schema(NotificationSent)).validate(wire_body(alert))


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"amount": 114.0}, "amount"),  # money must travel as a string, never a float
        ({"schema_version": 2}, "schema_version"),
        ({"payment_id": None}, "payment_id"),
    ],
)
def test_schema_rejects_a_body_that_breaks_the_contract(change: dict[str, Any], path: str) -> None:
    """The schemas are strict where the contract is: types, nullability, the version."""
    body = {**wire_body(SAMPLES["PaymentProcessed"]), **change}
    with pytest.raises(ValidationError) as raised:
        Draft202012Validator(committed_schema(PaymentProcessed)).validate(body)
    assert list(raised.value.absolute_path) == [path]


def test_schema_requires_schema_version() -> None:
    """A body without schema_version is not a valid message."""
    body = event_payload(SAMPLES["OrderConfirmed"])
    with pytest.raises(ValidationError, match="schema_version"):
        Draft202012Validator(committed_schema(OrderConfirmed)).validate(body)
