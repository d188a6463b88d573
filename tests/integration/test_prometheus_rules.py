"""The alert rules are valid and behave as their unit tests say (promtool), and every query
of the Grafana dashboard is PromQL Prometheus accepts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.fixtures.services import service_unavailable
from tests.integration.promql import (
    ALERTS,
    alert_expressions,
    dashboard,
    dashboard_expressions,
    metric_names,
)

RULES_TESTS = ALERTS.parent / "alerts_test.yml"


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        service_unavailable("promtool not installed (Debian: apt-get install prometheus)")
    return subprocess.run(
        [binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_alert_rules_pass_promtool_check() -> None:
    """`promtool check rules` accepts alerts.yml and finds every rule."""
    done = _promtool("check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_expressions())} rules found" in done.stdout


def test_alert_rules_unit_tests_pass() -> None:
    """`promtool test rules alerts_test.yml`: each alert fires when, and only when, its
    test series say it should, with the labels and annotations an operator reads."""
    done = _promtool("test", "rules", RULES_TESTS.name, cwd=RULES_TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_unit_test() -> None:
    """An alert without a test in alerts_test.yml could never be shown to fire."""
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(ALERTS.read_text())["groups"]
        for rule in group["rules"]
    }
    tests = yaml.safe_load(RULES_TESTS.read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    assert alerts == tested


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    """Each panel's query, as a recording rule, passes `promtool check rules` (promtool
    parses the PromQL; Grafana's variables are substituted as Grafana would)."""
    expressions = dashboard_expressions()
    assert len(expressions) >= 10
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{index}", "expr": expr}
                    for index, expr in enumerate(expressions)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    done = _promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_panels_are_well_formed() -> None:
    """Unique panel ids, every query on the dashboard's Prometheus variable, and the
    business metrics of the order flow all shown."""
    board = dashboard()
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    shown = set().union(*(metric_names(expr) for expr in dashboard_expressions()))
    assert {
        "orders_placed_total",
        "orders_completed_total",
        "order_saga_duration_seconds_bucket",
        "payment_charges_total",
        "payment_circuit_open",
        "inventory_reservation_failures_total",
        "orders_needing_attention",
        "outbox_oldest_unpublished_age_seconds",
    } <= shown
