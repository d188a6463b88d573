"""The bootstrap loads the demo catalog only where a demo is declared: a shop's production
catalog is its own, so ``--demo-catalog`` there needs the demo allowance."""

from __future__ import annotations

import pytest

from tests.unit.production_env import DEMO, VALID, settings_from
from tools.bootstrap import BootstrapError, bootstrap


def test_demo_catalog_in_production_without_the_allowance_is_refused_before_any_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # VALID names a Temporal frontend that does not exist: reaching it would fail otherwise.
    settings = settings_from(monkeypatch, VALID)
    with pytest.raises(BootstrapError, match="ORDERS_DEMO_ALLOWANCE"):
        bootstrap(settings, demo_catalog=True)


def test_demo_catalog_with_the_allowance_goes_on_to_the_bootstrap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the allowance the refusal does not stop it: it gets as far as Temporal, which
    is not there (so the next error is the connection's, not the refusal)."""
    settings = settings_from(
        monkeypatch,
        {**DEMO, "ORDERS_TEMPORAL__ADDRESS": "127.0.0.1:1", "ORDERS_TEMPORAL__TLS": "false"},
    )
    with pytest.raises(Exception) as raised:  # noqa: PT011  # any failure but the refusal
        bootstrap(settings, demo_catalog=True)
    assert "ORDERS_DEMO_ALLOWANCE" not in str(raised.value)
