"""The order-history projection only moves an order forward, whatever order events arrive in."""

from __future__ import annotations

from consumers.order_history.projection import STATUS_AFTER, later_statuses


def _takes(current: str, event_type: str) -> bool:
    return STATUS_AFTER[event_type].value in later_statuses()[current]


def test_a_late_reservation_does_not_move_a_paid_order_back() -> None:
    assert not _takes("PAID", "InventoryReserved")
    assert not _takes("RESERVED", "OrderCreated")


def test_a_refund_moves_a_confirmed_order_on() -> None:
    assert _takes("CONFIRMED", "OrderRefunded")
    assert not _takes("REFUNDED", "OrderConfirmed")


def test_outcomes_follow_the_steps_before_them() -> None:
    assert _takes("PENDING", "InventoryReserved")
    assert _takes("RESERVED", "PaymentProcessed")
    assert _takes("PAID", "OrderConfirmed")
    assert _takes("PAID", "PaymentFailed")
    assert not _takes("CONFIRMED", "OrderCancelled")
