"""Spend limits: whether an order goes to a person for review before the charge.

The reservation reads the customer's recent activity in its own transaction (no extra
round trip for the saga); the decision is here, pure, run by the saga on those facts.
Amounts compare in the order's own currency's numbers: a limit of 5000 is 5000 EUR for an
order in EUR and 5000 USD for one in USD (the shop prices one currency today).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["CustomerActivity", "RiskLimits", "review_reasons"]


@dataclass(frozen=True)
class CustomerActivity:
    """What the customer did before this order, as the reservation found it."""

    # The totals of the customer's other orders placed within the spend window before this
    # one, leaving out those that ended REJECTED, PAYMENT_FAILED or CANCELLED.
    recent_spend: Decimal = Decimal("0")
    # The customer's other orders placed in the hour before this one, whatever became of them.
    orders_last_hour: int = 0


@dataclass(frozen=True)
class RiskLimits:
    """The thresholds; 0 switches a rule off."""

    max_order_amount: Decimal = Decimal("5000")
    spend_limit: Decimal = Decimal("10000")
    max_orders_per_hour: int = 30


def review_reasons(
    total: Decimal, activity: CustomerActivity | None, limits: RiskLimits
) -> list[str]:
    """Why an order of ``total`` needs a person's review; [] when it may go on.

    Without ``activity`` (a reservation that read none) only the order's own amount is
    judged. Each reason is a sentence an operator and the customer can read."""
    reasons: list[str] = []
    if limits.max_order_amount > 0 and total > limits.max_order_amount:
        reasons.append(f"order amount {total} over the limit of {limits.max_order_amount}")
    if activity is None:
        return reasons
    spend = activity.recent_spend + total
    if limits.spend_limit > 0 and spend > limits.spend_limit:
        reasons.append(
            f"spend {spend} in the window (this order included) over the limit of "
            f"{limits.spend_limit}"
        )
    # This order counts too: the 31st order in an hour is over a limit of 30.
    placed = activity.orders_last_hour + 1
    if limits.max_orders_per_hour > 0 and placed > limits.max_orders_per_hour:
        reasons.append(
            f"{placed} orders in the last hour (this one included) over the limit of "
            f"{limits.max_orders_per_hour}"
        )
    return reasons
