"""The order's lifecycle: its statuses and the only moves between them.

    PENDING ──▶ RESERVED ──▶ PAID ──▶ CONFIRMED
     │  │         │  │        │
     │  ▼         │  ▼        │
     │ REJECTED   │ PAYMENT_FAILED
     ▼            ▼           │
    CANCELLED ◀───┴───────────┘

CONFIRMED, REJECTED, PAYMENT_FAILED and CANCELLED are terminal.
"""

from __future__ import annotations

from enum import StrEnum

from models._transitions import TransitionTable

__all__ = ["OrderStatus", "allowed_transitions", "can_cancel", "is_terminal", "transition"]


class OrderStatus(StrEnum):
    # Values are the names: they are stored, searched on (Temporal search attribute
    # OrderStatus) and shown to operators, so they must read the same everywhere.
    PENDING = "PENDING"
    RESERVED = "RESERVED"
    PAID = "PAID"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    CANCELLED = "CANCELLED"


_ORDER = TransitionTable(
    "order",
    OrderStatus,
    {
        OrderStatus.PENDING: (OrderStatus.RESERVED, OrderStatus.REJECTED, OrderStatus.CANCELLED),
        # RESERVED → REJECTED and PAID → PAYMENT_FAILED: a step whose commit landed after
        # the saga had given up on it (its compensation has already undone it) still ends
        # the order the way the saga decided.
        OrderStatus.RESERVED: (
            OrderStatus.PAID,
            OrderStatus.PAYMENT_FAILED,
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
        ),
        OrderStatus.PAID: (
            OrderStatus.CONFIRMED,
            OrderStatus.CANCELLED,
            OrderStatus.PAYMENT_FAILED,
        ),
        OrderStatus.CONFIRMED: (),
        OrderStatus.REJECTED: (),
        OrderStatus.PAYMENT_FAILED: (),
        OrderStatus.CANCELLED: (),
    },
)


def transition(current: OrderStatus, target: OrderStatus) -> OrderStatus:
    """``target``, if an order may move there from ``current``; else IllegalTransitionError."""
    return _ORDER.check(current, target)


def allowed_transitions(current: OrderStatus) -> tuple[OrderStatus, ...]:
    return _ORDER.allowed(current)


def is_terminal(status: OrderStatus) -> bool:
    return _ORDER.is_terminal(status)


def can_cancel(status: OrderStatus) -> bool:
    return OrderStatus.CANCELLED in _ORDER.allowed(status)
