"""What the workers count: orders concluded, saga durations, charges, refused reservations,
and whether the payment provider's circuit is open.

Temporal delivers an activity at least once, so a count that must equal the business
facts is taken only after the transaction that recorded the fact committed, and only by
the attempt that recorded it: an attempt that finds the fact already recorded (a retry,
or a racing twin) counts nothing. Defining the metrics at import registers them only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, Histogram

from gateways.payment_gateway import CircuitBreakerGateway, PaymentGateway
from models import OrderStatus

__all__ = [
    "count_charge",
    "count_charge_error",
    "count_charge_refused",
    "count_order_concluded",
    "count_reservation_refused",
    "watch_payment_circuit",
]

ORDERS_COMPLETED = Counter(
    "orders_completed",
    "Orders that reached a terminal status, counted once when the status committed.",
    ["outcome"],
)
# From a second (a saga alone) to an hour (a provider outage retried, an operator's hold).
SAGA_DURATION = Histogram(
    "order_saga_duration_seconds",
    "Time from the order's placement (POST /orders) to its terminal status.",
    ["outcome"],
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600),
)
PAYMENT_CHARGES = Counter(
    "payment_charges",
    "Charges by result: captured, authorized, requires_action, declined and refused once "
    "per order as recorded; error once per attempt the provider could not answer.",
    ["result"],
)
PAYMENT_CIRCUIT_OPEN = Gauge(
    "payment_circuit_open",
    "1 while this process's circuit breaker to the payment provider is open, else 0.",
)
INVENTORY_RESERVATION_FAILURES = Counter(
    "inventory_reservation_failures",
    "Reservations refused, once per order: out_of_stock or unknown_product.",
    ["reason"],
)

TERMINAL_OUTCOMES = tuple(
    status.value.lower()
    for status in (
        OrderStatus.CONFIRMED,
        OrderStatus.REJECTED,
        OrderStatus.PAYMENT_FAILED,
        OrderStatus.CANCELLED,
    )
)
# Present from the start, so rate() and absent-series alerts work before the first order.
for _outcome in TERMINAL_OUTCOMES:
    ORDERS_COMPLETED.labels(outcome=_outcome)
for _reason in ("out_of_stock", "unknown_product"):
    INVENTORY_RESERVATION_FAILURES.labels(reason=_reason)


def count_order_concluded(status: OrderStatus, placed_at: datetime) -> None:
    """Call after the commit that moved the order to ``status`` (terminal)."""
    outcome = status.value.lower()
    ORDERS_COMPLETED.labels(outcome=outcome).inc()
    if placed_at.tzinfo is None:  # SQLite hands back naive UTC
        placed_at = placed_at.replace(tzinfo=UTC)
    elapsed = (datetime.now(UTC) - placed_at).total_seconds()
    SAGA_DURATION.labels(outcome=outcome).observe(max(elapsed, 0.0))


def count_charge(recorded_status: str) -> None:
    """Call after the commit that recorded the provider's answer (a payment row's status)."""
    result = "declined" if recorded_status == "FAILED" else recorded_status.lower()
    PAYMENT_CHARGES.labels(result=result).inc()


def count_charge_refused() -> None:
    PAYMENT_CHARGES.labels(result="refused").inc()


def count_charge_error() -> None:
    PAYMENT_CHARGES.labels(result="error").inc()


def count_reservation_refused(reason: str) -> None:
    INVENTORY_RESERVATION_FAILURES.labels(reason=reason).inc()


def watch_payment_circuit(gateway: PaymentGateway) -> None:
    """Let the gauge read ``gateway``'s breaker at scrape time (0 without a breaker)."""
    if isinstance(gateway, CircuitBreakerGateway):
        breaker = gateway
        PAYMENT_CIRCUIT_OPEN.set_function(lambda: 1.0 if breaker.state == "open" else 0.0)
    else:
        PAYMENT_CIRCUIT_OPEN.set_function(lambda: 0.0)
