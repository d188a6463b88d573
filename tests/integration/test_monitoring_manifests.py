"""The prometheus-operator resources in deploy/k8s/monitoring/ validate against the
operator's own CRD schemas, scrape every process through a Service that exists, and carry
the same alert rules as deploy/prometheus/alerts.yml."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from devstack.go_servers import TOOLCHAIN
from messages import queues
from tests.fixtures.services import service_unavailable
from tests.integration.promql import ALERTS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
MONITORING = sorted((K8S / "monitoring").glob("*.yaml"))
# The CRDs ship in the operator's Go module (example/prometheus-operator-crd/).
OPERATOR = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
CRD_FILES = {
    "ServiceMonitor": "monitoring.coreos.com_servicemonitors.yaml",
    "PrometheusRule": "monitoring.coreos.com_prometheusrules.yaml",
}
PROCESSES = {"api", "outbox-relay", *(f"worker-{name}" for name in queues.ALL)}


def _documents(paths: list[Path]) -> list[dict[str, Any]]:
    return [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc]


@cache
def _operator_dir() -> Path:
    go = shutil.which("go")
    if go is None:
        service_unavailable("go not installed: it fetches the prometheus-operator CRDs")
    done = subprocess.run(
        [go, "mod", "download", "-json", OPERATOR],
        env={**os.environ, "GOTOOLCHAIN": TOOLCHAIN, "GOFLAGS": "-mod=mod"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        service_unavailable(f"go mod download {OPERATOR} failed: {done.stderr[-500:]}")
    return Path(json.loads(done.stdout)["Dir"])


def _schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load(
        (_operator_dir() / "example" / "prometheus-operator-crd" / CRD_FILES[kind]).read_text()
    )
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _unknown_fields(doc: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the schema does not declare: the API server would drop them (kubectl's
    strict field validation refuses them), so a typo there is a silent no-op."""
    if isinstance(doc, dict) and "properties" in schema:
        declared = schema["properties"]
        unknown = [f"{path}.{key}" for key in doc if key not in declared]
        for key, value in doc.items():
            if key in declared:
                unknown += _unknown_fields(value, declared[key], f"{path}.{key}")
        return unknown
    if isinstance(doc, list) and "items" in schema:
        return [
            u
            for i, item in enumerate(doc)
            for u in _unknown_fields(item, schema["items"], f"{path}[{i}]")
        ]
    return []


@pytest.mark.parametrize("doc", _documents(MONITORING), ids=lambda d: d["metadata"]["name"])
def test_monitoring_resource_validates_against_the_operator_crd(doc: dict[str, Any]) -> None:
    """Each ServiceMonitor / PrometheusRule is valid for the CRD, with no unknown field."""
    schema = _schema(doc["kind"])
    # Not checked against the metaschema: some CRD patterns are Go regexes (`^(?i)…`)
    # Python rejects; none of those fields is used here.
    jsonschema.Draft7Validator(schema).validate(doc)
    assert _unknown_fields(doc, schema) == []


def test_a_service_monitor_per_process_scrapes_ports_its_service_has() -> None:
    """api, relay and each worker: a ServiceMonitor whose selector finds a Service with the
    named ports; workers' also scrape the Temporal SDK port."""
    services = {
        doc["metadata"]["labels"].get("app.kubernetes.io/name"): doc
        for doc in _documents(sorted(K8S.glob("*.yaml")))
        if doc["kind"] == "Service"
    }
    monitors = [doc for doc in _documents(MONITORING) if doc["kind"] == "ServiceMonitor"]
    covered = set()
    for monitor in monitors:
        name = monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        service = services[name]
        ports = {port["name"] for port in service["spec"]["ports"]}
        scraped = {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]}
        assert scraped <= ports, (name, scraped, ports)
        process = name.removeprefix("order-saga-")
        if process.startswith("worker-"):
            assert scraped == {"metrics", "temporal-sdk"}
        covered.add(process)
    assert covered == PROCESSES


def test_prometheus_rule_carries_exactly_the_alerts_file() -> None:
    """The cluster gets the rules promtool tested, not a drifted copy."""
    (rule,) = [doc for doc in _documents(MONITORING) if doc["kind"] == "PrometheusRule"]
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]
