"""Activity inputs and results, one model each, keyed by order id for idempotency."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from messages.restock import RestockInput
from messages.saga import OrderSnapshot, PaymentInfo, Step
from models.actor import Actor
from models.notification import NotificationStatus, NotificationType
from models.order_status import OrderStatus
from models.payment import PaymentStatus


class ReserveInventoryInput(BaseModel):
    order: OrderSnapshot


class ReservationResult(BaseModel):
    order_id: str
    reserved: dict[str, int] = Field(default_factory=dict)
    # Products this reservation pushed under their reorder point, ready to restock.
    restocks_needed: list[RestockInput] = Field(default_factory=list)


class ReleaseInventoryInput(BaseModel):
    order_id: str
    reason: str


class ReleaseResult(BaseModel):
    order_id: str
    released: dict[str, int] = Field(default_factory=dict)


class ChargePaymentInput(BaseModel):
    order_id: str
    customer_id: str
    amount: Decimal
    currency: str
    payment: PaymentInfo
    # False authorises only; the money is captured at confirmation (the authorize/capture flow).
    capture: bool = True


class CapturePaymentInput(BaseModel):
    order_id: str


class PaymentResult(BaseModel):
    order_id: str
    payment_id: str
    # PENDING with ``next_action``: the provider waits for the customer.
    status: PaymentStatus
    gateway_reference: str | None = None
    next_action: str | None = None


class RecordPaymentOutcomeInput(BaseModel):
    """What the provider reported about a payment that waited for the customer."""

    order_id: str
    succeeded: bool
    provider_event_id: str
    reference: str
    reason: str | None = None
    # False in the authorize/capture flow: the customer's action only authorised the money.
    capture: bool = True


class RecordOrderStatusInput(BaseModel):
    """Park an order (NEEDS_ATTENTION) or send it back to ``status`` after a retry."""

    order: OrderSnapshot
    status: OrderStatus
    step: Step
    reason: str | None = None
    actor: str = "system"
    note: str = ""
    # A retry sent through the API: who sent it, from a verified token (then ``actor`` is
    # its subject). None: ``actor`` is the system or a name declared in the retry's input.
    verified_actor: Actor | None = None


class RefundPaymentInput(BaseModel):
    order_id: str
    reason: str


class RefundResult(BaseModel):
    order_id: str
    # "REFUNDED", "VOIDED" or "NOTHING_TO_REFUND" (no money was ever taken).
    outcome: str
    payment_id: str | None = None


class NotifyCustomerInput(BaseModel):
    order: OrderSnapshot
    notification_type: NotificationType
    # The terminal status this notification announces; it commits with the notification record.
    conclude_status: OrderStatus | None = None
    reason: str | None = None
    # Who caused the outcome (a cancel's requester); None: the saga decided it (system).
    actor: Actor | None = None
    # ORDER_REFUNDED: the amount given back, said in the notice.
    refund_amount: Decimal | None = None


class NotificationResult(BaseModel):
    order_id: str
    notification_id: str
    status: NotificationStatus


class OrderStatusResult(BaseModel):
    order_id: str
    # The order's status as recorded now.
    status: OrderStatus
