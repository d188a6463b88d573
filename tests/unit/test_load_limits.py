"""The stacks the benchmark and the fault runs start check the spend limits on every order,
at levels their one-customer load never reaches; the product's defaults stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings
from devstack.stack_options import LOAD_RISK_ENV, StackOptions
from tests.unit.production_env import use_environment


def test_a_deployed_stack_runs_the_checks_at_far_limits_unless_told_otherwise() -> None:
    options = StackOptions.deployed(Path("run"), extra_env={"ORDERS_RISK__SPEND_LIMIT": "7"})
    assert options.extra_env["ORDERS_RISK__MAX_ORDERS_PER_HOUR"] == "1000000000"
    assert options.extra_env["ORDERS_RISK__SPEND_LIMIT"] == "7"


def test_the_far_limits_are_valid_settings_and_far_above_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_environment(monkeypatch, {})
    default = Settings(_env_file=None).risk
    use_environment(monkeypatch, LOAD_RISK_ENV)
    far = Settings(_env_file=None).risk
    assert far.max_orders_per_hour > 1000 * default.max_orders_per_hour
    assert far.spend_limit > 1000 * default.spend_limit
    assert far.max_order_amount > 100 * default.max_order_amount
