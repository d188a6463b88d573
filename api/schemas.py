"""Request and response bodies of the HTTP API: ``*Create`` in, ``*Public`` out.

Separate from the tables (persistence.tables) so the stored shape can change without
changing the contract. Money is a decimal string ("12.50"), never a float.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

from api.maintenance_schemas import MaintenancePublic
from models.order_status import OrderStatus

ProductId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    Field(examples=["sku-espresso-beans"]),
]
Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"),
    Field(examples=["ada@example.com"]),
]
Amount = Annotated[Decimal, Field(examples=["24.90"])]
# A Postgres INTEGER column holds stock; keep every count far below its limit.
MAX_STOCK = 1_000_000_000
# Counts in requests are strict: JSON `true` or `"5"` is not a count (lax mode took both).
StockCount = Annotated[int, Strict(), Field(ge=0, le=MAX_STOCK)]


class OrderItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ProductId
    quantity: int = Field(
        ge=1, strict=True, description="Capped by the service's max quantity per item."
    )


class PaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["card"] = "card"
    token: str = Field(
        min_length=1,
        max_length=255,
        description="A token from the payment provider's client-side tokenisation.",
        examples=["tok_visa"],
    )


class OrderCreate(BaseModel):
    """What a client sends to place an order. Prices come from the catalog, not from here."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [{"product_id": "sku-espresso-beans", "quantity": 2}],
                    "payment": {"method": "card", "token": "tok_visa"},
                    "email": "ada@example.com",
                }
            ]
        },
    )

    items: list[OrderItemCreate] = Field(
        min_length=1, description="Capped by the service's max items per order."
    )
    payment: PaymentCreate
    email: Email | None = Field(
        default=None,
        description="Where notices go: the token's email claim. Another address is refused "
        "(422) unless the caller is an operator.",
    )


class OrderItemPublic(BaseModel):
    product_id: str
    quantity: int
    unit_price: Amount
    line_total: Amount


class PaymentPublic(BaseModel):
    payment_id: str
    status: str = Field(examples=["CAPTURED"])
    method: str
    amount: Amount
    currency: str
    failure_reason: str | None = None
    refunded_at: datetime | None = None


class NotificationPublic(BaseModel):
    notification_id: str
    type: str = Field(examples=["ORDER_CONFIRMED"])
    status: str = Field(examples=["SENT"])
    channel: str
    sent_at: datetime | None = None


class OrderPublic(BaseModel):
    order_id: str = Field(examples=["0b9f4c1e-6a55-4d8e-9d0c-2f3a1b7e5c42"])
    customer_id: str
    status: OrderStatus
    currency: str = Field(examples=["EUR"])
    total_amount: Amount
    items: list[OrderItemPublic]
    payment: PaymentPublic | None = None
    notifications: list[NotificationPublic] = Field(default_factory=list)
    failure_reason: str | None = None
    cancel_reason: str | None = Field(
        default=None, description="Set once a cancel was accepted, before it completes."
    )
    next_action: str | None = Field(
        default=None,
        description="PAYMENT_PENDING: where the customer completes the payment "
        "(3-D Secure, a wallet, a bank redirect).",
        examples=["https://payments.simulated.invalid/authenticate/ch_0123"],
    )
    created_at: datetime
    source: Literal["read_model", "workflow"] = Field(
        description="read_model: the recorded order; workflow: the saga's live state "
        "(the order is not recorded yet, or its record lags)."
    )


class OrderSummary(BaseModel):
    order_id: str = Field(examples=["0b9f4c1e-6a55-4d8e-9d0c-2f3a1b7e5c42"])
    customer_id: str
    status: OrderStatus
    total_amount: Amount
    currency: str
    created_at: datetime
    updated_at: datetime


class OrdersPage(BaseModel):
    data: list[OrderSummary]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next (older) page; null at the end."
    )


class CancelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        default="cancelled by the customer",
        min_length=1,
        max_length=500,
        examples=["changed my mind"],
    )


class CancelAccepted(BaseModel):
    order_id: str = Field(examples=["0b9f4c1e-6a55-4d8e-9d0c-2f3a1b7e5c42"])
    status: OrderStatus = Field(description="The status when the cancel was accepted.")
    detail: str = Field(examples=["cancelling"])


class ActorPublic(BaseModel):
    """Who caused an event. ``user``: subject and role from a verified token; ``operator``:
    the name declared in a CLI signal's input (not verified); ``system``: the saga or
    another workflow decided on its own."""

    kind: Literal["user", "operator", "system"]
    subject: str = Field(examples=["customer-1"])
    role: str | None = Field(default=None, examples=["customer"])


class EventPublic(BaseModel):
    event_id: uuid.UUID
    event_type: str = Field(examples=["OrderCreated"])
    aggregate_type: str = Field(examples=["order"])
    version: int = Field(ge=1)
    occurred_at: datetime
    data: dict[str, Any]
    actor: ActorPublic | None = Field(
        default=None, description="Who caused it; null for events recorded before actors were."
    )
    published_at: datetime | None = None


class OrderTimeline(BaseModel):
    order_id: str = Field(examples=["0b9f4c1e-6a55-4d8e-9d0c-2f3a1b7e5c42"])
    events: list[EventPublic]


class StockPublic(BaseModel):
    quantity: int
    reserved: int
    available: int
    reorder_point: int
    reorder_quantity: int


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: ProductId
    name: str = Field(min_length=1, max_length=200, examples=["Espresso beans, 1 kg"])
    unit_price: Decimal = Field(ge=0, max_digits=12, decimal_places=2, examples=["24.90"])
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])
    initial_stock: StockCount = 0
    reorder_point: StockCount = 0
    reorder_quantity: StockCount = 0


class ProductPublic(BaseModel):
    id: str
    name: str
    unit_price: Amount
    currency: str
    stock: StockPublic | None
    created_at: datetime
    updated_at: datetime


class ProductsPage(BaseModel):
    data: list[ProductPublic]
    next_cursor: str | None = Field(default=None, description="Pass as `after` for more.")


class StockUpdate(BaseModel):
    """A restock (``add_quantity``) and/or a new reorder policy; at least one of them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"add_quantity": 100, "reorder_point": 20}]},
    )

    add_quantity: StockCount = 0
    reorder_point: StockCount | None = None
    reorder_quantity: StockCount | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> StockUpdate:
        if not self.add_quantity and self.reorder_point is None and self.reorder_quantity is None:
            raise ValueError("give add_quantity > 0, reorder_point or reorder_quantity")
        return self


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class OutboxLag(BaseModel):
    unpublished: int = Field(ge=0, description="Events not yet relayed to Kafka.")
    oldest_age_seconds: float | None = Field(
        default=None, description="Age of the oldest unpublished event; null when none."
    )


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, str] = Field(examples=[{"database": "ok", "temporal": "ok"}])
    outbox: OutboxLag
    maintenance: MaintenancePublic


class RefundLineCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, max_length=128, examples=["sku-123"])
    quantity: int = Field(ge=1, le=10_000, examples=[1])


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, examples=["returned: damaged in transit"])
    lines: list[RefundLineCreate] | None = Field(
        default=None,
        max_length=100,
        description="The returned lines (a partial refund, priced as ordered); "
        "omit to refund the whole order.",
    )


class RefundAccepted(BaseModel):
    order_id: str = Field(examples=["0b9f4c1e-6a55-4d8e-9d0c-2f3a1b7e5c42"])
    workflow_id: str = Field(examples=["refund-0b9f4c1e-6a55-4d8e-9d0c-2f3a1b7e5c42"])
    amount: Decimal = Field(description="What goes back to the customer.")
    currency: str = Field(examples=["EUR"])
    lines: list[RefundLineCreate]
