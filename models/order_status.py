"""The order's lifecycle: its statuses and the only moves between them.

    PENDING ──▶ RESERVED ──▶ PAID ──▶ CONFIRMED
     │  │         │  │  ▲     │
     │  ▼         │  ▼  │     │
     │ REJECTED   │ PAYMENT_FAILED ◀─┐
     ▼            ▼     │     │      │
    CANCELLED ◀───┴─────┼─────┘      │
                        │            │
     RESERVED ──▶ PAYMENT_PENDING ───┤  (also ──▶ RESERVED, CANCELLED, NEEDS_ATTENTION)
                                     │
     PENDING/RESERVED/PAYMENT_PENDING/PAID ──▶ NEEDS_ATTENTION
     NEEDS_ATTENTION ──▶ the status it left (an operator's retry),
                         REJECTED, PAYMENT_FAILED, CANCELLED (compensated)

     CONFIRMED ──▶ REFUNDED  (an after-sale refund, outside the saga)

CONFIRMED, REJECTED, PAYMENT_FAILED, CANCELLED and REFUNDED are terminal for the saga
(``is_terminal``); only an after-sale refund still moves a CONFIRMED order. Two statuses wait:

- PAYMENT_PENDING: the provider needs the customer's action (3-D Secure, a wallet, a bank
  redirect); the saga waits for the provider's report (``payment_succeeded`` or
  ``payment_failed``) until a timeout, then voids the charge and ends PAYMENT_FAILED.
- NEEDS_ATTENTION: a step ran out of its retry budget for an infrastructure reason, or
  failed in a way the saga did not plan for. The saga keeps what it holds and waits for an
  operator's ``retry`` (back to the status it left) or ``cancel``; after a hold time it
  compensates by itself and ends as the step would have had it failed.
"""

from __future__ import annotations

from enum import StrEnum

from models._transitions import TransitionTable

__all__ = [
    "OrderStatus",
    "allowed_transitions",
    "can_cancel",
    "is_terminal",
    "is_waiting",
    "transition",
]


class OrderStatus(StrEnum):
    # Values are the names: they are stored, searched on (Temporal search attribute
    # OrderStatus) and shown to operators, so they must read the same everywhere.
    PENDING = "PENDING"
    RESERVED = "RESERVED"
    PAYMENT_PENDING = "PAYMENT_PENDING"
    PAID = "PAID"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    CANCELLED = "CANCELLED"
    NEEDS_ATTENTION = "NEEDS_ATTENTION"
    # An operator refunded a confirmed order (all of it or some lines) after the sale.
    REFUNDED = "REFUNDED"


_ORDER = TransitionTable(
    "order",
    OrderStatus,
    {
        OrderStatus.PENDING: (
            OrderStatus.RESERVED,
            OrderStatus.REJECTED,
            OrderStatus.CANCELLED,
            OrderStatus.NEEDS_ATTENTION,
        ),
        # RESERVED → REJECTED and PAID → PAYMENT_FAILED: a step whose commit landed after
        # the saga had given up on it (its compensation has already undone it) still ends
        # the order the way the saga decided.
        OrderStatus.RESERVED: (
            OrderStatus.PAID,
            OrderStatus.PAYMENT_PENDING,
            OrderStatus.PAYMENT_FAILED,
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
            OrderStatus.NEEDS_ATTENTION,
        ),
        # → RESERVED: the customer authorised a payment that is captured at confirmation.
        OrderStatus.PAYMENT_PENDING: (
            OrderStatus.PAID,
            OrderStatus.RESERVED,
            OrderStatus.PAYMENT_FAILED,
            OrderStatus.CANCELLED,
            OrderStatus.NEEDS_ATTENTION,
        ),
        OrderStatus.PAID: (
            OrderStatus.CONFIRMED,
            OrderStatus.CANCELLED,
            OrderStatus.PAYMENT_FAILED,
            OrderStatus.NEEDS_ATTENTION,
        ),
        # Back to the status it left (an operator's retry), or compensated and ended.
        OrderStatus.NEEDS_ATTENTION: (
            OrderStatus.PENDING,
            OrderStatus.RESERVED,
            OrderStatus.PAYMENT_PENDING,
            OrderStatus.PAID,
            OrderStatus.REJECTED,
            OrderStatus.PAYMENT_FAILED,
            OrderStatus.CANCELLED,
        ),
        OrderStatus.CONFIRMED: (OrderStatus.REFUNDED,),
        OrderStatus.REFUNDED: (),
        OrderStatus.REJECTED: (),
        OrderStatus.PAYMENT_FAILED: (),
        OrderStatus.CANCELLED: (),
    },
)

# The saga is over in these: CONFIRMED too, though a refund workflow may still move it.
_FINISHED = (
    OrderStatus.CONFIRMED,
    OrderStatus.REJECTED,
    OrderStatus.PAYMENT_FAILED,
    OrderStatus.CANCELLED,
    OrderStatus.REFUNDED,
)

_WAITING = (OrderStatus.PAYMENT_PENDING, OrderStatus.NEEDS_ATTENTION)


def transition(current: OrderStatus, target: OrderStatus) -> OrderStatus:
    """``target``, if an order may move there from ``current``; else IllegalTransitionError."""
    return _ORDER.check(current, target)


def allowed_transitions(current: OrderStatus) -> tuple[OrderStatus, ...]:
    return _ORDER.allowed(current)


def is_terminal(status: OrderStatus) -> bool:
    """The saga has finished with the order (whatever an after-sale refund does later)."""
    return status in _FINISHED


def is_waiting(status: OrderStatus) -> bool:
    """The saga waits on someone outside it: the customer (with the provider) or an operator."""
    return status in _WAITING


def can_cancel(status: OrderStatus) -> bool:
    return OrderStatus.CANCELLED in _ORDER.allowed(status)
