"""The spend-limit rules (models/risk.py): which orders go to a person for review."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models.risk import CustomerActivity, RiskLimits, review_reasons

LIMITS = RiskLimits(
    max_order_amount=Decimal("5000"), spend_limit=Decimal("10000"), max_orders_per_hour=30
)
QUIET = CustomerActivity()


def test_an_ordinary_order_of_a_quiet_customer_needs_no_review() -> None:
    assert review_reasons(Decimal("120.00"), QUIET, LIMITS) == []


def test_an_order_at_the_amount_limit_passes_and_one_cent_over_is_reviewed() -> None:
    assert review_reasons(Decimal("5000.00"), QUIET, LIMITS) == []
    reasons = review_reasons(Decimal("5000.01"), QUIET, LIMITS)
    assert reasons == ["order amount 5000.01 over the limit of 5000"]


def test_the_rolling_spend_counts_this_order_with_the_earlier_ones() -> None:
    """9000 spent in the window and an order of 1000 reach the limit; 1000.01 passes it."""
    spent = CustomerActivity(recent_spend=Decimal("9000.00"))
    assert review_reasons(Decimal("1000.00"), spent, LIMITS) == []
    reasons = review_reasons(Decimal("1000.01"), spent, LIMITS)
    assert len(reasons) == 1
    assert reasons[0].startswith("spend 10000.01 in the window")


def test_the_31st_order_in_an_hour_is_over_a_limit_of_30() -> None:
    assert review_reasons(Decimal("10"), CustomerActivity(orders_last_hour=29), LIMITS) == []
    reasons = review_reasons(Decimal("10"), CustomerActivity(orders_last_hour=30), LIMITS)
    assert reasons == ["31 orders in the last hour (this one included) over the limit of 30"]


def test_every_rule_broken_gives_every_reason() -> None:
    busy = CustomerActivity(recent_spend=Decimal("20000"), orders_last_hour=100)
    assert len(review_reasons(Decimal("6000"), busy, LIMITS)) == 3


@pytest.mark.parametrize(
    "limits",
    [
        RiskLimits(max_order_amount=Decimal("0"), spend_limit=Decimal("0"), max_orders_per_hour=0),
    ],
)
def test_a_limit_of_zero_switches_its_rule_off(limits: RiskLimits) -> None:
    busy = CustomerActivity(recent_spend=Decimal("1e9"), orders_last_hour=10_000)
    assert review_reasons(Decimal("1e8"), busy, limits) == []


def test_without_the_customers_activity_only_the_amount_is_judged() -> None:
    """A reservation that read no activity (an older worker) cannot trip the spend rules."""
    assert review_reasons(Decimal("100"), None, LIMITS) == []
    assert len(review_reasons(Decimal("6000"), None, LIMITS)) == 1
