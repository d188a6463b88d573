"""The saga's input, its cancel request and the status it answers to queries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from messages.queues import TaskQueues
from models.actor import Actor
from models.order_status import OrderStatus

PaymentFlow = Literal["direct", "authorize_capture"]


class Step(StrEnum):
    """The saga's step under way; the values are what histories, queries and the read model
    have always carried, so a StrEnum keeps their JSON the same."""

    START = "start"
    RESERVE = "reserve"
    CHARGE = "charge"
    # PAYMENT_PENDING answered: recording what the provider reported.
    PAYMENT_OUTCOME = "payment_outcome"
    CAPTURE = "capture"
    CONFIRM = "confirm"
    # The notice after a failure or cancel, once the compensations ran.
    NOTIFY = "notify"
    RELEASE = "compensate:release"
    REFUND = "compensate:refund"


class OrderLine(BaseModel):
    product_id: str
    quantity: int = Field(ge=1)
    # Priced by the API from the catalog when the order was placed; the client never sets it.
    unit_price: Decimal


class PaymentInfo(BaseModel):
    method: str = "card"
    # An opaque token from the payment provider's client-side tokenisation, never a card number.
    token: str


class OrderSnapshot(BaseModel):
    """Everything needed to record the order, carried so any step can record it first."""

    order_id: str
    customer_id: str
    customer_email: str
    currency: str
    lines: list[OrderLine]
    payment: PaymentInfo
    placed_at: datetime
    # Who placed it (the API's verified caller); None from callers that predate the field.
    placed_by: Actor | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal("0.00"))


class SagaPolicy(BaseModel):
    """Budgets and waits the saga runs by, from ``Settings.saga`` (the workflow cannot read
    the environment). Defaults keep inputs recorded before this existed valid."""

    # How long a step keeps retrying infrastructure failures before the order is parked.
    reserve_budget_seconds: float = Field(default=120.0, gt=0)
    charge_budget_seconds: float = Field(default=600.0, gt=0)
    # How long a parked order waits for an operator before it compensates by itself.
    attention_hold_seconds: float = Field(default=24 * 3600.0, gt=0)
    # How long a payment waits for the customer's action before it is voided.
    payment_action_timeout_seconds: float = Field(default=30 * 60.0, gt=0)


class OrderSagaInput(BaseModel):
    order: OrderSnapshot
    payment_flow: PaymentFlow = "direct"
    queues: TaskQueues = Field(default_factory=TaskQueues)
    policy: SagaPolicy = Field(default_factory=SagaPolicy)


class CancelRequest(BaseModel):
    """Plain JSON so the CLI can send it:
    ``--input '{"reason": "customer called", "operator": "alice"}'``.

    ``operator`` is declared, not verified: a workflow cannot see who sent a signal, so the
    name is recorded as the cancel's actor as given. The API sets ``actor`` from the
    caller's verified token instead.
    """

    reason: str = "cancelled on request"
    operator: str | None = None
    actor: Actor | None = None


class RetryRequest(BaseModel):
    """An operator's retry of a parked order, typeable in the Web UI and the CLI:
    ``--input '{"operator": "alice", "note": "provider back"}'`` or no input at all.

    There ``operator`` is declared, not verified. ``POST /orders/{id}/retry`` sets ``actor``
    from the caller's verified token (and ``operator`` to its subject)."""

    operator: str = "operator"
    note: str = ""
    actor: Actor | None = None


class RetryOutcome(BaseModel):
    accepted: bool
    status: OrderStatus
    step: Step | None = None
    detail: str


class PaymentOutcome(BaseModel):
    """What the provider reported, by webhook, about a payment that waited for the customer.

    Sent to the saga as the signal ``payment_succeeded`` or ``payment_failed``; the
    provider's event id lets the saga ignore a second delivery of the same report.
    """

    provider_event_id: str
    # The provider's reference of the charge (a PaymentIntent id for Stripe).
    reference: str
    decline_code: str | None = None
    reason: str | None = None


class CancelOutcome(BaseModel):
    accepted: bool
    status: OrderStatus
    detail: str


class SagaStatus(BaseModel):
    order_id: str
    status: OrderStatus
    completed_steps: list[str] = Field(default_factory=list)
    last_error: str | None = None
    cancel_reason: str | None = None
    cancel_refused: str | None = None
    # The step under way, or the one a parked order waits to retry.
    step: Step | None = None
    # NEEDS_ATTENTION: since when, and the status a retry returns to.
    needs_attention_since: datetime | None = None
    # When the hold runs out and the saga compensates by itself; None while parked means it
    # waits for an operator without end (a compensation that failed: only a retry helps).
    needs_attention_until: datetime | None = None
    # True while a parked step waits for an operator's retry or cancel.
    awaiting_decision: bool = False
    resume_status: OrderStatus | None = None
    retries: int = 0
    # PAYMENT_PENDING: where the customer completes the payment.
    next_action: str | None = None
    # Provider events already applied; a second delivery of one changes nothing.
    payment_events: list[str] = Field(default_factory=list)


class SagaResult(BaseModel):
    order_id: str
    status: OrderStatus
    reason: str | None = None
