"""The compose file and Kubernetes manifests are valid and describe the whole system."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from messages import queues
from tests.fixtures.services import service_unavailable

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.temporal.yml"
K8S = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))

# Every process the design names, plus Temporal's own and the peers it needs.
REQUIRED_SERVICES = {
    "temporal",
    "temporal-ui",
    "postgresql",
    "kafka",
    "api",
    "outbox-relay",
    *(f"worker-{name}" for name in queues.ALL),
}


def _compose_config() -> dict[str, Any]:
    binary = shutil.which("docker-compose")
    if binary is None:
        service_unavailable("docker-compose not installed (apt-get install docker-compose)")
    done = subprocess.run(
        [binary, "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_compose_file_is_valid_and_runs_every_process_of_the_design() -> None:
    """docker-compose accepts the file and it has one service per worker queue."""
    services = _compose_config()["services"]
    assert set(services) >= REQUIRED_SERVICES


def test_each_compose_worker_polls_its_own_queue() -> None:
    """worker-<queue> runs that queue's entry point, so pools scale separately."""
    services = _compose_config()["services"]
    for name in queues.ALL:
        assert services[f"worker-{name}"]["command"] == ["python", "-m", f"workers.{name}"]


def test_compose_temporal_persists_to_postgresql() -> None:
    """Temporal in compose keeps its state in PostgreSQL, not in memory."""
    temporal = _compose_config()["services"]["temporal"]
    assert temporal["environment"]["DB"] == "postgres12"


@pytest.mark.parametrize("manifest", K8S, ids=lambda p: p.name)
def test_kubernetes_manifest_is_valid(manifest: Path) -> None:
    """Each manifest validates strictly against the Kubernetes schema."""
    for document in yaml.safe_load_all(manifest.read_text()):
        kubernetes_validate.validate(document, "1.37.0", strict=True)


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
