"""Domain events and notifications, and the purity of the models package.

Notification tests live here because NotificationSent is what they produce; the
purity check lives here because events are what crosses into workflow code.
"""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import FrozenInstanceError, asdict, fields
from decimal import Decimal
from pathlib import Path

import pytest

import models
from models import (
    EVENT_TYPES,
    DomainEvent,
    EventItem,
    IllegalTransitionError,
    InvalidNotificationError,
    InventoryReleased,
    InventoryReservationFailed,
    InventoryReserved,
    InventoryRestocked,
    InventoryReturned,
    LowStockDetected,
    Money,
    Notification,
    NotificationSent,
    NotificationStatus,
    NotificationType,
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
    UnknownEventTypeError,
    event_class,
    event_type_of,
    render_notification,
)

ITEMS = (EventItem("sku-1", 2, Decimal("2.50")),)

# One of each event, with the aggregate type and id it must report.
SAMPLES: dict[str, tuple[DomainEvent, str, str]] = {
    "OrderCreated": (
        OrderCreated(
            order_id="o-1",
            customer_id="c-1",
            items=ITEMS,
            total_amount=Decimal("5.00"),
            currency="EUR",
        ),
        "order",
        "o-1",
    ),
    "OrderConfirmed": (OrderConfirmed(order_id="o-1"), "order", "o-1"),
    "OrderCancelled": (OrderCancelled(order_id="o-1", reason="asked"), "order", "o-1"),
    "OrderRejected": (OrderRejected(order_id="o-1", reason="no stock"), "order", "o-1"),
    "OrderNeedsAttention": (
        OrderNeedsAttention(order_id="o-1", step="charge", reason="provider down"),
        "order",
        "o-1",
    ),
    "OrderRetried": (
        OrderRetried(order_id="o-1", step="charge", actor="alice", note="back"),
        "order",
        "o-1",
    ),
    "PaymentActionRequired": (
        PaymentActionRequired(
            order_id="o-1", payment_id="pay-1", next_action="https://provider/act/1"
        ),
        "payment",
        "o-1",
    ),
    "InventoryReserved": (
        InventoryReserved(order_id="o-1", items=(EventItem("sku-1", 2),)),
        "inventory",
        "o-1",
    ),
    "InventoryReservationFailed": (
        InventoryReservationFailed(order_id="o-1", product_id="sku-1", requested=3, available=1),
        "inventory",
        "o-1",
    ),
    "InventoryReleased": (
        InventoryReleased(order_id="o-1", items=(EventItem("sku-1", 2),)),
        "inventory",
        "o-1",
    ),
    "InventoryReturned": (
        InventoryReturned(order_id="o-1", items=(EventItem("sku-1", 1),)),
        "inventory",
        "o-1",
    ),
    "OrderRefunded": (
        OrderRefunded(
            order_id="o-1",
            amount=Decimal("4.50"),
            currency="EUR",
            items=(EventItem("sku-1", 1),),
            reason="returned",
            actor="alice",
        ),
        "order",
        "o-1",
    ),
    "InventoryRestocked": (
        InventoryRestocked(product_id="sku-1", quantity_added=5, quantity_on_hand=9),
        "inventory",
        "sku-1",
    ),
    "LowStockDetected": (
        LowStockDetected(product_id="sku-1", available=2, reorder_point=3),
        "inventory",
        "sku-1",
    ),
    "PaymentProcessed": (
        PaymentProcessed(
            payment_id="pay-1",
            order_id="o-1",
            amount=Decimal("5.00"),
            currency="EUR",
            status="CAPTURED",
        ),
        "payment",
        "o-1",
    ),
    "PaymentFailed": (PaymentFailed(order_id="o-1", reason="declined"), "payment", "o-1"),
    "PaymentRefunded": (
        PaymentRefunded(payment_id="pay-1", order_id="o-1", amount=Decimal("5"), currency="EUR"),
        "payment",
        "o-1",
    ),
    "PaymentVoided": (
        PaymentVoided(payment_id="pay-1", order_id="o-1", amount=Decimal("5"), currency="EUR"),
        "payment",
        "o-1",
    ),
    "NotificationSent": (
        NotificationSent(
            notification_id="n-1",
            order_id="o-1",
            customer_id="c-1",
            notification_type="ORDER_CONFIRMED",
            channel="email",
        ),
        "notification",
        "o-1",
    ),
}
SAMPLE_IDS = sorted(SAMPLES)


def test_every_event_is_registered_under_its_class_name() -> None:
    """EVENT_TYPES maps each event's class name to the class, and nothing else."""
    assert set(EVENT_TYPES) == set(SAMPLES)
    assert all(cls.__name__ == name for name, cls in EVENT_TYPES.items())


def test_the_registry_lists_every_public_event_class() -> None:
    """No concrete event class is left out of the registry."""

    def concrete(cls: type[DomainEvent]) -> set[type[DomainEvent]]:
        found = {cls} if not cls.__name__.startswith("_") and cls is not DomainEvent else set()
        for sub in cls.__subclasses__():
            found |= concrete(sub)
        return found

    assert concrete(DomainEvent) == set(EVENT_TYPES.values())


def test_the_registry_cannot_be_changed_at_runtime() -> None:
    """The set of known event types is fixed by the code, not by import order."""
    with pytest.raises(TypeError):
        EVENT_TYPES["Forged"] = OrderCreated  # type: ignore[index]


@pytest.mark.parametrize("name", SAMPLE_IDS)
def test_each_event_names_its_aggregate_type_and_id(name: str) -> None:
    """The aggregate type picks the topic; the id is the order's, or the product's for stock."""
    event, aggregate_type, aggregate_id = SAMPLES[name]
    assert (event.aggregate_type, event.aggregate_id) == (aggregate_type, aggregate_id)


@pytest.mark.parametrize("name", SAMPLE_IDS)
def test_event_type_round_trips_through_the_registry(name: str) -> None:
    """event_type_of gives the stored name; event_class finds the class again."""
    event = SAMPLES[name][0]
    assert event_type_of(event) == name
    assert event_class(name) is type(event)


@pytest.mark.parametrize("name", SAMPLE_IDS)
def test_events_are_immutable_and_start_at_schema_version_one(name: str) -> None:
    """A recorded fact cannot be edited, and every schema starts at version 1."""
    event = SAMPLES[name][0]
    assert event.schema_version == 1
    with pytest.raises(FrozenInstanceError):
        event.order_id = "other"  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", SAMPLE_IDS)
def test_every_event_field_is_json_friendly(name: str) -> None:
    """Fields are str, int, Decimal, None or tuples of EventItem, so any serialiser copes."""
    event = SAMPLES[name][0]
    for field in fields(event):
        value = getattr(event, field.name)
        if isinstance(value, tuple):
            assert all(isinstance(item, EventItem) for item in value)
        else:
            assert value is None or isinstance(value, str | int | Decimal), field.name
    assert json.loads(json.dumps(asdict(event), default=str))


def test_a_float_in_an_event_is_refused() -> None:
    """Money travels as Decimal; a float would already have lost cents."""
    with pytest.raises(TypeError, match="float"):
        PaymentRefunded(payment_id="p", order_id="o", amount=5.0, currency="EUR")  # type: ignore[arg-type]


def test_unknown_event_types_are_refused() -> None:
    """Reading back a type the code does not know fails loudly."""
    with pytest.raises(UnknownEventTypeError, match="Forged"):
        event_class("Forged")
    with pytest.raises(LookupError):
        event_class("DomainEvent")


def test_an_unregistered_event_class_has_no_type_name() -> None:
    """A subclass outside the registry cannot be stored by accident under a wrong name."""

    class OrderConfirmed(models.OrderConfirmed):  # same name, different class
        pass

    with pytest.raises(UnknownEventTypeError):
        event_type_of(OrderConfirmed(order_id="o-1"))


def test_a_payment_failure_without_a_payment_has_no_payment_id() -> None:
    """A decline before any payment was recorded leaves payment_id None."""
    assert PaymentFailed(order_id="o-1", reason="declined").payment_id is None


def test_an_operator_alert_is_its_own_aggregate() -> None:
    """A notification about no order is keyed by its own id."""
    sent = NotificationSent(
        notification_id="n-9",
        order_id=None,
        customer_id=None,
        notification_type="LOW_STOCK_ALERT",
        channel="email",
    )
    assert sent.aggregate_id == "n-9"


def notification(
    status: NotificationStatus = NotificationStatus.PENDING,
    kind: NotificationType = NotificationType.ORDER_CONFIRMED,
) -> Notification:
    return Notification(
        id="n-1", order_id="o-1", customer_id="c-1", type=kind, status=status, content="Hi"
    )


def test_sending_a_notification_records_it_as_sent() -> None:
    """A delivered notification is SENT and produces NotificationSent."""
    note = notification()

    sent = note.mark_sent("email")

    assert note.status is NotificationStatus.SENT
    assert sent == NotificationSent(
        notification_id="n-1",
        order_id="o-1",
        customer_id="c-1",
        notification_type="ORDER_CONFIRMED",
        channel="email",
    )


def test_a_failed_notification_can_still_be_sent_later() -> None:
    """FAILED is not the end: a retry that gets through marks it SENT."""
    note = notification()
    note.mark_failed("smtp refused")
    reason_on_failure = note.failure_reason

    note.mark_sent("email")

    assert reason_on_failure == "smtp refused"
    assert note.status is NotificationStatus.SENT
    assert note.failure_reason is None


@pytest.mark.parametrize("again", ["mark_sent", "mark_failed"])
def test_a_sent_notification_is_final(again: str) -> None:
    """Once sent, a notification is neither sent again nor failed."""
    note = notification(NotificationStatus.SENT)
    with pytest.raises(IllegalTransitionError, match="notification"):
        getattr(note, again)("email")


def test_a_customer_notification_names_its_order_and_customer() -> None:
    """Customer messages without an order or a customer are refused."""
    with pytest.raises(InvalidNotificationError):
        Notification(
            id="n-1",
            order_id=None,
            customer_id="c-1",
            type=NotificationType.ORDER_CANCELLED,
            content="x",
        )


def test_an_operator_alert_needs_no_order_or_customer() -> None:
    """A low-stock alert goes to operators and concerns no order."""
    note = Notification(
        id="n-1",
        order_id=None,
        customer_id=None,
        type=NotificationType.LOW_STOCK_ALERT,
        content="low",
    )
    assert note.mark_sent("log").aggregate_id == "n-1"


def test_confirmation_text_names_the_order_and_the_amount() -> None:
    """The confirmation says which order and what was taken."""
    subject, body = render_notification(
        NotificationType.ORDER_CONFIRMED, "o-1", total=Money.of("12.5", "EUR")
    )
    assert subject == "Order o-1 confirmed"
    assert "o-1" in body
    assert "12.50 EUR" in body


@pytest.mark.parametrize(
    "kind",
    [
        NotificationType.PAYMENT_FAILED,
        NotificationType.ORDER_REJECTED,
        NotificationType.ORDER_CANCELLED,
    ],
    ids=str,
)
def test_unhappy_endings_tell_the_customer_why(kind: NotificationType) -> None:
    """Rejections, failed payments and cancellations carry their reason."""
    subject, body = render_notification(kind, "o-1", reason="card declined")
    assert "o-1" in subject
    assert "card declined" in body


@pytest.mark.parametrize("kind", list(NotificationType), ids=str)
def test_every_notification_type_renders_short_plain_text(kind: NotificationType) -> None:
    """Each type has a one-line subject and a brief body."""
    text = render_notification(
        kind, "o-1", reason="r", product_id="sku-1", available=2, reorder_point=3
    )
    assert "\n" not in text.subject
    assert 0 < len(text.body) < 300


def test_a_low_stock_alert_states_the_numbers() -> None:
    """Operators see the product, what is left and the reorder point."""
    subject, body = render_notification(
        NotificationType.LOW_STOCK_ALERT, product_id="sku-1", available=2, reorder_point=3
    )
    assert subject == "Low stock: sku-1"
    assert "2 available" in body
    assert "3" in body


def test_rendering_without_what_the_type_needs_is_refused() -> None:
    """An order message needs the order; a stock alert needs the product and numbers."""
    with pytest.raises(InvalidNotificationError):
        render_notification(NotificationType.ORDER_REJECTED)
    with pytest.raises(InvalidNotificationError):
        render_notification(NotificationType.LOW_STOCK_ALERT, product_id="sku-1")


MODEL_FILES = sorted(Path(models.__file__).parent.glob("*.py"))
# Sources of time, randomness, identity or I/O: forbidden although they are stdlib.
NONDETERMINISTIC = {"random", "secrets", "uuid", "time", "os", "socket", "importlib", "threading"}


def imported_top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda path: path.name)
def test_models_import_only_the_standard_library(path: Path) -> None:
    """The domain runs in the workflow sandbox, so it depends on nothing outside stdlib."""
    outside = imported_top_level_names(path) - {"models"} - set(sys.stdlib_module_names)
    assert outside == set()


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda path: path.name)
def test_models_use_no_clock_randomness_or_io(path: Path) -> None:
    """Workflow replay needs the same answers every time, so none of these are touched."""
    assert imported_top_level_names(path) & NONDETERMINISTIC == set()
    calls = {
        node.attr
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute)
    }
    assert calls & {"now", "utcnow", "today", "getcontext"} == set()


def test_the_purity_check_sees_every_module() -> None:
    """The file list above is not empty, so the checks cannot pass vacuously."""
    assert {path.name for path in MODEL_FILES} >= {
        "__init__.py",
        "errors.py",
        "events.py",
        "inventory.py",
        "money.py",
        "notification.py",
        "order.py",
        "payment.py",
    }
