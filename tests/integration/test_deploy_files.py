"""The Kubernetes manifests are valid and describe the whole system (the compose file:
tests/deploy/test_compose.py)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from devstack import go_servers
from devstack.process import ServiceUnavailableError
from messages import queues
from tests.fixtures.services import service_unavailable
from tests.integration.crd_schemas import CrdSchemas

ROOT = Path(__file__).resolve().parents[2]
K8S = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))


@cache
def keda_module() -> Path:
    return go_servers.module_dir("keda")


def keda_crds() -> CrdSchemas:
    try:
        folder = keda_module() / "config" / "crd" / "bases"
    except ServiceUnavailableError as exc:
        service_unavailable(f"KEDA's CRDs come from its Go module: {exc}")
    return CrdSchemas(folder)


def k8s_documents() -> list[dict[str, Any]]:
    return [doc for path in K8S for doc in yaml.safe_load_all(path.read_text())]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in k8s_documents() if doc["kind"] == kind}


@pytest.mark.parametrize("manifest", K8S, ids=lambda p: p.name)
def test_kubernetes_manifest_is_valid(manifest: Path) -> None:
    """Each manifest validates strictly: built-in kinds against the Kubernetes schema,
    KEDA's kinds against the CRDs of the KEDA release (its Go module's config/crd)."""
    documents = list(yaml.safe_load_all(manifest.read_text()))
    crds = keda_crds() if any("keda.sh" in doc["apiVersion"] for doc in documents) else None
    for document in documents:
        if crds is not None and crds.covers(document):
            crds.validate(document)
        else:
            kubernetes_validate.validate(document, "1.37.0", strict=True)


def test_the_crd_check_catches_a_misspelt_field() -> None:
    """The CRD validation is strict: a field KEDA does not know is an error."""
    scaled = dict(by_kind("ScaledObject")[f"order-saga-worker-{queues.PAYMENTS}"])
    scaled["spec"] = {**scaled["spec"], "maxReplicas": 3}
    with pytest.raises(jsonschema.ValidationError, match="maxReplicas"):
        keda_crds().validate(scaled)


def test_every_deployment_has_liveness_and_readiness_probes() -> None:
    for name, deployment in by_kind("Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert "livenessProbe" in container, name
            assert "readinessProbe" in container, name
            ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe"):
                target = container[probe]["httpGet"]["port"]
                assert target in ports, f"{name}: {probe} on unknown port {target}"


def _config() -> dict[str, str]:
    data: dict[str, str] = by_kind("ConfigMap")["order-saga-config"]["data"]
    return data


def test_probes_listen_where_the_settings_say() -> None:
    """The workers' and relay's probe port is the ConfigMap's ORDERS_TELEMETRY__PROBE_PORT."""
    port = int(_config()["ORDERS_TELEMETRY__PROBE_PORT"])
    assert _config()["ORDERS_TELEMETRY__PROBE_HOST"] == "0.0.0.0"  # noqa: S104
    names = [f"order-saga-worker-{q}" for q in queues.ALL] + ["order-saga-outbox-relay"]
    deployments = by_kind("Deployment")
    for name in names:
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["probes"] == port, name


def _temporal_scaler_parameters() -> set[str]:
    source = (keda_module() / "pkg" / "scalers" / "temporal_scaler.go").read_text()
    return set(re.findall(r'keda:"name=(\w+),', source))


def test_each_worker_scales_on_its_task_queue_backlog_with_keda() -> None:
    """One ScaledObject per worker Deployment, KEDA's `temporal` scaler on that queue (of
    the namespace the workers use), with parameters the scaler knows; no CPU HPA."""
    scaled = by_kind("ScaledObject")
    known = _temporal_scaler_parameters()
    assert not by_kind("HorizontalPodAutoscaler")
    for queue in queues.ALL:
        name = f"order-saga-worker-{queue}"
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "temporal"
        metadata = trigger["metadata"]
        assert set(metadata) <= known, set(metadata) - known
        assert metadata["taskQueue"] == queue
        assert metadata["namespace"] == _config()["ORDERS_TEMPORAL__NAMESPACE"]
        assert metadata["endpoint"] == _config()["ORDERS_TEMPORAL__ADDRESS"]
        expected = "workflow" if queue == queues.ORDERS else "activity"
        assert metadata["queueTypes"] == expected
        auth = trigger["authenticationRef"]["name"]
        assert auth in by_kind("TriggerAuthentication")


def test_each_worker_has_a_disruption_budget_and_a_grace_matching_its_drain() -> None:
    """A PDB keeps a poller through drains; preStop + the drain setting + 10 s fit in
    terminationGracePeriodSeconds, so the kubelet never kills a draining worker."""
    budgets = by_kind("PodDisruptionBudget")
    deployments = by_kind("Deployment")
    drain = float(_config()["ORDERS_WORKERS__GRACEFUL_SHUTDOWN_SECONDS"])
    for queue in queues.ALL:
        name = f"order-saga-worker-{queue}"
        pod = deployments[name]["spec"]["template"]
        labels = pod["metadata"]["labels"]
        selector = budgets[name]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        assert budgets[name]["spec"]["minAvailable"] == 1
        (container,) = pod["spec"]["containers"]
        pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop[0] == "sleep"
        assert pod["spec"]["terminationGracePeriodSeconds"] == int(pre_stop[1]) + drain + 10


def test_a_job_bootstraps_temporal_and_the_database() -> None:
    (container,) = by_kind("Job")["order-saga-bootstrap"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "tools.bootstrap"]


def test_the_payment_provider_runs_as_one_replica_on_a_volume() -> None:
    deployment = by_kind("Deployment")["payment-provider"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"][:3] == ["python", "-m", "provider"]
    service = by_kind("Service")["payment-provider"]
    port = service["spec"]["ports"][0]["port"]
    assert _config()["ORDERS_PAYMENTS__PROVIDER_URL"] == f"http://payment-provider:{port}"


def test_kubernetes_has_a_deployment_per_worker_queue() -> None:
    """The cluster layout mirrors the design: one Deployment per task queue."""
    deployments = {
        doc["metadata"]["name"]
        for path in K8S
        for doc in yaml.safe_load_all(path.read_text())
        if doc["kind"] == "Deployment"
    }
    assert {f"order-saga-worker-{name}" for name in queues.ALL} <= deployments
    assert {"order-saga-api", "order-saga-outbox-relay"} <= deployments
