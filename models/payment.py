"""A payment for an order, and the moves its status may make.

    PENDING ──▶ AUTHORIZED ──▶ CAPTURED ──▶ REFUNDED
       │            │              ▲
       │            └─▶ VOIDED     │
       ├───────────────────────────┘
       ├─▶ FAILED
       └─▶ VOIDED  (a charge waiting for the customer's action, abandoned; or, with no
                    charge at all, the saga's fence against a late attempt: ``abandon``)

A payment stays PENDING while the provider waits for the customer (``require_action``).

A payment is taken in full and refunded in full; partial refunds are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from models._transitions import TransitionTable
from models._validate import require_text
from models.errors import InvalidPaymentError
from models.events import (
    PaymentActionRequired,
    PaymentFailed,
    PaymentProcessed,
    PaymentRefunded,
    PaymentVoided,
)
from models.money import Money

__all__ = [
    "Payment",
    "PaymentEvent",
    "PaymentStatus",
    "allowed_payment_transitions",
    "payment_transition",
]


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    CAPTURED = "CAPTURED"
    FAILED = "FAILED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"


_PAYMENT = TransitionTable(
    "payment",
    PaymentStatus,
    {
        PaymentStatus.PENDING: (
            PaymentStatus.AUTHORIZED,
            PaymentStatus.CAPTURED,
            PaymentStatus.FAILED,
            PaymentStatus.VOIDED,
        ),
        PaymentStatus.AUTHORIZED: (PaymentStatus.CAPTURED, PaymentStatus.VOIDED),
        PaymentStatus.CAPTURED: (PaymentStatus.REFUNDED,),
        PaymentStatus.FAILED: (),
        PaymentStatus.REFUNDED: (),
        PaymentStatus.VOIDED: (),
    },
)


# Where no money has been taken yet.
_NOT_TAKEN = (PaymentStatus.PENDING, PaymentStatus.AUTHORIZED)

PaymentEvent = PaymentProcessed | PaymentRefunded | PaymentVoided


def payment_transition(current: PaymentStatus, target: PaymentStatus) -> PaymentStatus:
    """``target``, if a payment may move there from ``current``; else IllegalTransitionError."""
    return _PAYMENT.check(current, target)


def allowed_payment_transitions(current: PaymentStatus) -> tuple[PaymentStatus, ...]:
    return _PAYMENT.allowed(current)


@dataclass(eq=False, kw_only=True)
class Payment:
    """One attempt to take an order's money. ``timestamp`` is when it was recorded,
    passed in (timezone-aware) because the domain has no clock."""

    id: str
    order_id: str
    amount: Money
    status: PaymentStatus = PaymentStatus.PENDING
    method: str = "card"
    timestamp: datetime
    failure_reason: str | None = None

    def __post_init__(self) -> None:
        require_text(self.id, "payment id", InvalidPaymentError)
        require_text(self.order_id, "order id", InvalidPaymentError)
        require_text(self.method, "payment method", InvalidPaymentError)
        if not isinstance(self.amount, Money):
            raise TypeError(f"amount must be Money, not {type(self.amount).__name__}")
        if not self.amount.is_positive():
            raise InvalidPaymentError(f"a payment must be for a positive amount, not {self.amount}")
        if not isinstance(self.timestamp, datetime):
            raise TypeError(f"timestamp must be a datetime, not {type(self.timestamp).__name__}")
        # A naive time is ambiguous across workers in different zones.
        if self.timestamp.utcoffset() is None:
            raise InvalidPaymentError("payment timestamp must be timezone-aware")
        self.status = PaymentStatus(self.status)

    @property
    def is_terminal(self) -> bool:
        return _PAYMENT.is_terminal(self.status)

    def require_action(self, next_action: str | None) -> PaymentActionRequired:
        """The provider waits for the customer; the payment stays PENDING meanwhile."""
        if self.status is not PaymentStatus.PENDING:
            raise InvalidPaymentError(f"payment {self.id} is {self.status}, not waiting")
        return PaymentActionRequired(
            order_id=self.order_id, payment_id=self.id, next_action=next_action
        )

    def authorize(self) -> PaymentProcessed:
        """The gateway holds the money; it is taken at capture."""
        self.status = payment_transition(self.status, PaymentStatus.AUTHORIZED)
        return self._processed()

    def capture(self) -> PaymentProcessed:
        """The money is taken, straight from PENDING or after authorisation."""
        self.status = payment_transition(self.status, PaymentStatus.CAPTURED)
        return self._processed()

    def fail(self, reason: str) -> PaymentFailed:
        require_text(reason, "reason", InvalidPaymentError)
        self.status = payment_transition(self.status, PaymentStatus.FAILED)
        self.failure_reason = reason
        return PaymentFailed(order_id=self.order_id, reason=reason, payment_id=self.id)

    def void(self) -> PaymentVoided:
        self.status = payment_transition(self.status, PaymentStatus.VOIDED)
        return PaymentVoided(
            order_id=self.order_id,
            payment_id=self.id,
            amount=self.amount.amount,
            currency=self.amount.currency,
        )

    def abandon(self) -> None:
        """The saga gave up on a payment no charge was made for: VOIDED, so that a late
        attempt to charge it takes nothing. No event: no money moved, and the order's
        ending is told by its own terminal event (a PaymentVoided would say a charge was
        released)."""
        if self.status is not PaymentStatus.PENDING:
            # Held or taken money is given back through the provider (void, refund).
            raise InvalidPaymentError(f"payment {self.id} is {self.status}, not abandoned")
        self.status = payment_transition(self.status, PaymentStatus.VOIDED)

    def refund(self, amount: Money | None = None) -> PaymentRefunded:
        """Give the money back: all of it (REFUNDED), or ``amount`` of a captured payment,
        which stays CAPTURED (an after-sale refund of some lines)."""
        given = self.amount if amount is None else amount
        if given == self.amount:
            self.status = payment_transition(self.status, PaymentStatus.REFUNDED)
        elif self.status is not PaymentStatus.CAPTURED or not given.is_positive():
            raise InvalidPaymentError(f"cannot refund {given} of a {self.status} payment")
        elif given > self.amount:
            raise InvalidPaymentError(f"cannot refund {given} of a payment of {self.amount}")
        return PaymentRefunded(
            order_id=self.order_id,
            payment_id=self.id,
            amount=given.amount,
            currency=given.currency,
        )

    def follow(self, target: PaymentStatus) -> list[PaymentEvent]:
        """Move to ``target``, where the provider has taken the charge (a capture, refund or
        void there), with the event of each move; nothing when already there, or when the
        provider's status is no move of ours (it still waits, or holds the money)."""
        events: list[PaymentEvent] = []
        if target is PaymentStatus.REFUNDED and self.status in _NOT_TAKEN:
            # Taken, then given back, and the timeline says both: the customer completed
            # the payment while it was being abandoned, or a capture's record was lost.
            events.append(self.capture())
        if target is self.status:
            return events
        if target is PaymentStatus.CAPTURED:
            events.append(self.capture())
        elif target is PaymentStatus.REFUNDED:
            events.append(self.refund())
        elif target is PaymentStatus.VOIDED:
            events.append(self.void())
        return events

    def _processed(self) -> PaymentProcessed:
        return PaymentProcessed(
            order_id=self.order_id,
            payment_id=self.id,
            amount=self.amount.amount,
            currency=self.amount.currency,
            status=self.status.value,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Payment) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)
