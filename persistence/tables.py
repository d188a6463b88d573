# size: every table in one module, the one metadata Alembic compares the migrations with
"""The database tables (SQLModel ``table=True`` classes). API schemas live elsewhere.

Conventions:
- Money is ``Decimal`` in a :class:`~persistence.types.Money` column with a currency beside it.
- Timestamps are ``datetime`` fields, which SQLModel maps to its ``UTCDateTime``: aware
  datetimes only, stored and returned in UTC on PostgreSQL and SQLite alike.
- Status columns are plain strings; the domain model owns their values and transitions.
- Constraint names follow :data:`NAMING_CONVENTION`, so migrations can refer to them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel, col

# Re-exported (the alias tells mypy so): the API and the outbox import it from here.
from persistence.clock import utc_now as utc_now  # noqa: PLC0414
from persistence.types import Money, json_document

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata

ID = String(64)  # product SKUs, uuid text, gateway ids
CUSTOMER_ID = String(128)
CURRENCY = String(3)
STATUS = String(32)

RESERVATION_RESERVED = "RESERVED"
RESERVATION_RELEASED = "RELEASED"
IDEMPOTENCY_IN_PROGRESS = "IN_PROGRESS"
IDEMPOTENCY_COMPLETED = "COMPLETED"
AGGREGATE_TYPES = ("order", "inventory", "payment", "notification")


def _non_negative_money(column: str) -> CheckConstraint:
    # CAST: on SQLite money is exact text, which would otherwise compare as a string.
    return CheckConstraint(f"CAST({column} AS NUMERIC) >= 0", name=f"{column}_not_negative")


def _touch() -> dict[str, Any]:
    return {"onupdate": utc_now}


class ProductRow(SQLModel, table=True):
    __tablename__ = "products"
    __table_args__ = (_non_negative_money("unit_price"),)

    id: str = Field(primary_key=True, sa_type=ID)  # a SKU, e.g. "sku-espresso-beans"
    name: str = Field(sa_type=String(200))
    unit_price: Decimal = Field(sa_type=Money())
    currency: str = Field(sa_type=CURRENCY)
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now, sa_column_kwargs=_touch())


class InventoryRow(SQLModel, table=True):
    """Stock of one product. ``reserved`` is held for orders in flight; the CHECKs make
    overselling impossible even for a statement that bypasses the application."""

    __tablename__ = "inventory"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= quantity", name="reserved_within_quantity"),
        CheckConstraint("reorder_point >= 0", name="reorder_point_not_negative"),
        CheckConstraint("reorder_quantity >= 0", name="reorder_quantity_not_negative"),
    )

    product_id: str = Field(primary_key=True, foreign_key="products.id", sa_type=ID)
    quantity: int = Field(default=0)  # on hand
    reserved: int = Field(default=0)
    reorder_point: int = Field(default=0)
    reorder_quantity: int = Field(default=0)
    updated_at: datetime = Field(default_factory=utc_now, sa_column_kwargs=_touch())

    @property
    def available(self) -> int:
        return self.quantity - self.reserved


class InventoryReservationRow(SQLModel, table=True):
    """One row per (order, product): reserving or releasing twice for an order is a no-op."""

    __tablename__ = "inventory_reservations"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    order_id: str = Field(primary_key=True, sa_type=ID)
    product_id: str = Field(primary_key=True, foreign_key="products.id", sa_type=ID)
    quantity: int
    status: str = Field(default=RESERVATION_RESERVED, sa_type=STATUS)
    created_at: datetime = Field(default_factory=utc_now)
    released_at: datetime | None = Field(default=None)


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (_non_negative_money("total_amount"),)

    id: str = Field(primary_key=True, sa_type=ID)  # uuid text
    customer_id: str = Field(sa_type=CUSTOMER_ID)
    status: str = Field(sa_type=STATUS)
    total_amount: Decimal = Field(sa_type=Money())
    currency: str = Field(sa_type=CURRENCY)
    payment_method: str = Field(sa_type=String(64))
    failure_reason: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now, sa_column_kwargs=_touch())


# "A customer's orders, newest first", paged by the cursor (created_at, id).
Index(
    "ix_orders_customer_id_created_at",
    col(OrderRow.customer_id),
    col(OrderRow.created_at).desc(),
    col(OrderRow.id).desc(),
)


class OrderItemRow(SQLModel, table=True):
    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        _non_negative_money("unit_price"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="orders.id", ondelete="CASCADE", index=True, sa_type=ID)
    product_id: str = Field(foreign_key="products.id", sa_type=ID)
    quantity: int
    unit_price: Decimal = Field(sa_type=Money())
    currency: str = Field(sa_type=CURRENCY)


class PaymentRow(SQLModel, table=True):
    __tablename__ = "payments"
    __table_args__ = (_non_negative_money("amount"),)

    id: str = Field(primary_key=True, sa_type=ID)
    order_id: str = Field(unique=True, sa_type=ID)
    amount: Decimal = Field(sa_type=Money())
    currency: str = Field(sa_type=CURRENCY)
    status: str = Field(sa_type=STATUS)
    method: str = Field(sa_type=String(64))
    idempotency_key: str = Field(unique=True, sa_type=String(128))
    gateway_reference: str | None = Field(default=None, sa_type=String(128))
    failure_reason: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utc_now)
    updated_at: datetime = Field(default_factory=utc_now, sa_column_kwargs=_touch())
    refunded_at: datetime | None = Field(default=None)
    refund_reference: str | None = Field(default=None, sa_type=String(128))


class PaymentIntentRow(SQLModel, table=True):
    """The provider's intent made under an order's payment key, written the moment the
    provider answers (before it is confirmed): a retry, a compensation or an operator's
    retry days later continues this intent, whatever the provider still remembers of
    the key. The payments row comes later, with the outcome and its events."""

    __tablename__ = "payment_intents"

    idempotency_key: str = Field(primary_key=True, sa_type=String(128))
    intent_id: str = Field(unique=True, sa_type=String(255))
    created_at: datetime = Field(default_factory=utc_now)


class NotificationRow(SQLModel, table=True):
    """UNIQUE(order_id, type): each kind of notification goes out at most once per order."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("order_id", "type"),)

    id: str = Field(primary_key=True, sa_type=ID)
    order_id: str = Field(sa_type=ID)
    customer_id: str = Field(sa_type=CUSTOMER_ID)
    type: str = Field(sa_type=String(64))
    status: str = Field(sa_type=STATUS)
    channel: str = Field(sa_type=STATUS)
    content: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utc_now)
    sent_at: datetime | None = Field(default=None)


class EventRow(SQLModel, table=True):
    """The event store and the outbox in one table.

    ``version`` counts per aggregate (UNIQUE with ``aggregate_id``; that constraint is also
    the timeline's index). ``position`` is the global append order the relay reads by: an
    identity column on PostgreSQL; on SQLite, which has no non-key autoincrement,
    :func:`persistence.event_inserts.events_inserts` assigns it (always append through
    ``persistence.batch.Batch.add_events``).
    ``published_at`` is set by the relay; unpublished rows have a partial index.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("aggregate_id", "version"),
        UniqueConstraint("position"),
    )

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    position: int | None = Field(
        default=None,
        nullable=False,
        sa_type=BigInteger().with_variant(Integer(), "sqlite"),
        sa_column_args=[Identity()],
    )
    event_type: str = Field(sa_type=String(128))
    aggregate_type: str = Field(sa_type=STATUS)
    aggregate_id: str = Field(sa_type=ID)
    event_data: dict[str, Any] = Field(sa_type=json_document())
    schema_version: int = Field(default=1)
    occurred_at: datetime
    version: int
    traceparent: str | None = Field(default=None, sa_type=String(128))
    # Who caused it: {"kind", "subject", "role"} (models.actor.Actor); null before 0002.
    actor: dict[str, Any] | None = Field(default=None, sa_type=json_document())
    published_at: datetime | None = Field(default=None)


Index(
    "ix_events_unpublished",
    col(EventRow.position),
    postgresql_where=text("published_at IS NULL"),
    sqlite_where=text("published_at IS NULL"),
)


class IdempotencyKeyRow(SQLModel, table=True):
    """An ``Idempotency-Key`` per customer: the same key returns the same order."""

    __tablename__ = "idempotency_keys"

    customer_id: str = Field(primary_key=True, sa_type=CUSTOMER_ID)
    key: str = Field(primary_key=True, sa_type=String(255))
    request_hash: str = Field(sa_type=String(128))
    order_id: str | None = Field(default=None, sa_type=ID)
    status: str = Field(default=IDEMPOTENCY_IN_PROGRESS, sa_type=String(16))
    response_status: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utc_now)
    expires_at: datetime = Field(index=True)


class InboxRow(SQLModel, table=True):
    """Events a consumer has already handled: Kafka consumers dedupe on ``ce_id`` (a UUID,
    stored as text), the Stripe webhook on Stripe's event id (``evt_…``)."""

    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, sa_type=String(128))
    event_id: str = Field(primary_key=True, sa_type=String(255))
    processed_at: datetime = Field(default_factory=utc_now)


ALL_TABLES = (
    ProductRow,
    InventoryRow,
    InventoryReservationRow,
    OrderRow,
    OrderItemRow,
    PaymentRow,
    PaymentIntentRow,
    NotificationRow,
    EventRow,
    IdempotencyKeyRow,
    InboxRow,
)


class MaintenanceSwitchRow(SQLModel, table=True):
    """The maintenance switch, one row (id 1) from the first time an operator sets it: while
    ``active``, POST /orders answers 503 and every API process says so within its check
    interval (``ORDERS_API__MAINTENANCE_CHECK_SECONDS``)."""

    __tablename__ = "maintenance_switch"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: int = Field(default=1, primary_key=True)
    active: bool
    reason: str = Field(sa_type=Text)
    retry_after_seconds: int
    changed_by: str = Field(sa_type=CUSTOMER_ID)
    changed_at: datetime = Field(default_factory=utc_now)
