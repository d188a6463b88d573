"""The chart's prometheus-operator resources (behind monitoring.* values) scrape every process
through a Service that has the named ports, and carry exactly the alert rules promtool tests
(files/alerts.yml, the one source). Their CRD schemas are checked by kubeconform
(test_chart.py)."""

from __future__ import annotations

import pytest
import yaml

from messages import queues
from tests.deploy import policy, tools

pytestmark = pytest.mark.integration

PROCESSES = {"api", "outbox-relay", *(f"worker-{name}" for name in queues.ALL)}
ALERTS = tools.CHART / "files" / "alerts.yml"


def test_monitoring_is_off_by_default_and_on_in_the_production_shapes() -> None:
    kinds = {"ServiceMonitor", "PrometheusRule"}
    assert not [d for d in tools.render([]) if d["kind"] in kinds]
    for shape in ("selfhosted-mtls", "temporal-cloud"):
        assert {d["kind"] for d in tools.render(tools.VALUES_FILES[shape])} >= kinds


def test_a_service_monitor_per_process_scrapes_ports_its_service_has() -> None:
    """api, relay and each worker: a ServiceMonitor whose selector finds a Service with the
    named ports; workers' also scrape the Temporal SDK port."""
    docs = tools.render(tools.VALUES_FILES["selfhosted-mtls"])
    services = policy.by_kind(docs, "Service").values()
    covered = set()
    for monitor in policy.by_kind(docs, "ServiceMonitor").values():
        selector = monitor["spec"]["selector"]["matchLabels"]
        (service,) = [s for s in services if s["spec"]["selector"] == selector]
        ports = {port["name"] for port in service["spec"]["ports"]}
        scraped = {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]}
        assert scraped <= ports, (selector, scraped, ports)
        process = selector["app.kubernetes.io/component"]
        if process.startswith("worker-"):
            assert scraped == {"metrics", "temporal-sdk"}
        covered.add(process)
    assert covered == PROCESSES


def test_prometheus_rule_carries_exactly_the_alerts_file() -> None:
    """The cluster gets the rules promtool tested, not a drifted copy; deploy/prometheus/
    alerts.yml (promtool's and Prometheus's path) is the same file."""
    docs = tools.render(tools.VALUES_FILES["selfhosted-mtls"])
    (rule,) = policy.by_kind(docs, "PrometheusRule").values()
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]
    assert (tools.ROOT / "deploy" / "prometheus" / "alerts.yml").resolve() == ALERTS.resolve()
