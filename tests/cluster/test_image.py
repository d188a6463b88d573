"""The image as shipped, run for real: every process of the service starts from it with a
read-only root filesystem as the numeric user 10001, against this session's two-node
Temporal cluster (mTLS), a real PostgreSQL and Kafka, configured for production with the
demo allowance (the simulated provider, log-only notices, one broker). An order placed
through the containerised API is CONFIRMED and its event reaches Kafka. The image's own
default environment refuses to start.

The image is built by ``devstack.image`` (``.ci/run`` builds it beforehand, so here it is
found by its tag); the containers run as ``devstack.containers`` runs them: the chart's
environment and mounts, rendered into ``podman run`` arguments.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest

from config.api import AuthSettings
from devstack import containers
from devstack.codec_keys import codec_env
from devstack.containers import Container, ContainerSpec
from devstack.image import build_image, image_files
from devstack.jwks_issuer import JwksIssuer
from devstack.kafka import KafkaBroker
from devstack.process import ServiceUnavailableError, wait_until
from devstack.stack import listen_port
from devstack.temporal_cluster import TemporalCluster
from devstack.temporal_tls import SERVER_NAME
from devstack.tokens import mint_token
from messages import queues
from outbox.cloudevents import ce_type
from tests.cluster.conftest import NAMESPACE
from tests.fixtures.kafka import consume_all
from tests.fixtures.services import service_unavailable
from tests.integration.outbox_helpers import header_map

pytestmark = pytest.mark.integration

DATABASE = "orders_image"
TLS_DIR = "/etc/order-saga/temporal-tls"
LEDGER_DIR = "/var/lib/payment-provider"
ORDER_TOPIC = f"order-events-image-{secrets.token_hex(3)}"


@pytest.fixture(scope="module")
def image() -> str:
    try:
        return build_image(quiet=True)
    except ServiceUnavailableError as exc:
        service_unavailable(f"the image cannot be built here: {exc}")


@dataclass
class Deployment:
    image: str
    env: dict[str, str]
    mounts: dict[Path, str]
    api_url: str
    issuer_key: Path
    kafka: KafkaBroker
    running: dict[str, Container] = field(default_factory=dict)

    def spec(self, *command: str, **extra: str) -> ContainerSpec:
        return ContainerSpec(self.image, command, env={**self.env, **extra}, mounts=self.mounts)


def _tls_files(cluster: TemporalCluster, folder: Path) -> dict[str, str]:
    """Copies of the cluster's client certificate, key and CA, readable by the container's
    user (as a Secret volume is), and the settings naming them inside the container."""
    certificates = cluster.certificates
    assert certificates is not None
    folder.mkdir()
    names = {
        "TLS_CLIENT_CERT_PATH": (certificates.client_cert, "client.pem"),
        "TLS_CLIENT_KEY_PATH": (certificates.client_key, "client.key"),
        "TLS_SERVER_CA_PATH": (certificates.ca, "ca.pem"),
    }
    env = {}
    for setting, (source, name) in names.items():
        copy = folder / name
        shutil.copyfile(source, copy)
        copy.chmod(0o644)  # a throwaway test key; the user 10001 must read it
        env[f"ORDERS_TEMPORAL__{setting}"] = f"{TLS_DIR}/{name}"
    folder.chmod(0o755)
    return env


@pytest.fixture(scope="module")
def deployment(
    image: str,
    temporal_cluster: TemporalCluster,
    kafka_broker: KafkaBroker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    containers.remove_orphans()
    run_dir = tmp_path_factory.mktemp("image-run")
    run_dir.chmod(0o755)
    issuer = JwksIssuer(run_dir / "issuer").start()
    api_port, provider_port = listen_port(), listen_port()
    provider_url = f"http://127.0.0.1:{provider_port}"
    database_url = temporal_cluster.postgres.create_database(DATABASE, exist_ok=True)
    env = {
        "ORDERS_ENVIRONMENT": "production",
        "ORDERS_DEMO_ALLOWANCE": "true",
        "ORDERS_DATABASE__URL": database_url,
        "ORDERS_TEMPORAL__ADDRESS": temporal_cluster.address,
        "ORDERS_TEMPORAL__NAMESPACE": NAMESPACE,
        "ORDERS_TEMPORAL__TLS_SERVER_NAME": SERVER_NAME,
        **_tls_files(temporal_cluster, run_dir / "tls"),
        **codec_env(run_dir),
        **issuer.settings_env(),
        "ORDERS_KAFKA__BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "ORDERS_KAFKA__REPLICATION_FACTOR": "1",
        "ORDERS_KAFKA__ORDER_TOPIC": ORDER_TOPIC,
        "ORDERS_NOTIFICATIONS__CHANNEL": "log",
        "ORDERS_PAYMENTS__PROVIDER": "simulated",
        "ORDERS_PAYMENTS__PROVIDER_URL": provider_url,
        "ORDERS_PAYMENTS__PROVIDER_TOKEN": secrets.token_urlsafe(24),
        "ORDERS_API__PORT": str(api_port),
    }
    mounts = {run_dir / "tls": TLS_DIR}
    deployed = Deployment(
        image, env, mounts, f"http://127.0.0.1:{api_port}", issuer.key_path, kafka_broker
    )
    try:
        _start(deployed, provider_port)
        yield deployed
    finally:
        for container in deployed.running.values():
            container.stop()
        issuer.stop()


def _start(deployed: Deployment, provider_port: int) -> None:
    # The chart's hook Job: migrations, namespace, search attributes. Then the demo catalog.
    for job in (["python", "-m", "tools.bootstrap"], ["python", "-m", "persistence.seed"]):
        done = containers.run_once(deployed.spec(*job))
        assert done.returncode == 0, f"{' '.join(job)}:\n{done.stdout}\n{done.stderr}"
    suffix = secrets.token_hex(3)

    def start(role: str, spec: ContainerSpec) -> None:
        deployed.running[role] = containers.start(spec, f"order-saga-test-{role}-{suffix}")

    provider = deployed.spec(
        "python",
        "-m",
        "provider",
        "--host",
        "127.0.0.1",
        "--port",
        str(provider_port),
        "--ledger",
        f"{LEDGER_DIR}/ledger.db",
    )
    # The ledger's folder is writable, as the chart's emptyDir (or volume) makes it.
    start("provider", replace(provider, tmpfs=(*provider.tmpfs, LEDGER_DIR)))
    start("api", deployed.spec("python", "-m", "api"))
    for queue in queues.ALL:
        start(f"worker-{queue}", deployed.spec("python", "-m", f"workers.{queue}"))
    start("relay", deployed.spec("python", "-m", "outbox"))

    def serving() -> bool:
        exited = [role for role, c in deployed.running.items() if not c.running()]
        if exited:
            logs = "\n".join(f"--- {r}:\n{deployed.running[r].logs()[-2000:]}" for r in exited)
            raise AssertionError(f"containers exited: {exited}\n{logs}")
        try:
            return httpx.get(f"{deployed.api_url}/healthz", timeout=2).is_success
        except httpx.HTTPError:
            return False

    wait_until(serving, 120, f"the containerised API on {deployed.api_url}", interval=1.0)


def test_every_process_runs_as_a_numeric_non_root_user_on_a_read_only_root(
    deployment: Deployment,
) -> None:
    assert set(deployment.running) == {
        "provider",
        "api",
        "relay",
        *(f"worker-{queue}" for queue in queues.ALL),
    }
    for role, container in deployment.running.items():
        assert container.running(), f"{role} exited:\n{container.logs()[-3000:]}"
        assert container.inspect("{{.Config.User}}") == "10001:10001", role
        assert container.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true", role
        assert container.exec("id", "-u").stdout.strip() == "10001", role
        written = container.exec("python", "-c", "open('/written-by-the-process', 'w')")
        assert written.returncode != 0, role
        assert "Read-only file system" in written.stderr, (role, written.stderr)


def test_an_order_placed_through_the_containerised_api_is_confirmed(
    deployment: Deployment,
) -> None:
    token = mint_token(
        AuthSettings(),
        "image-customer",
        "customer",
        email="c@example.com",
        issuer_key=deployment.issuer_key,
    )
    headers = {"Authorization": f"Bearer {token}"}
    placed = httpx.post(
        f"{deployment.api_url}/orders",
        json={
            "items": [{"product_id": "sku-ceramic-mug", "quantity": 1}],
            "payment": {"method": "card", "token": "tok_visa"},
        },
        headers=headers,
        timeout=10,
    )
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]

    deadline = time.monotonic() + 90
    status = ""
    while time.monotonic() < deadline and status != "CONFIRMED":
        time.sleep(0.5)
        read = httpx.get(f"{deployment.api_url}/orders/{order_id}", headers=headers, timeout=10)
        status = read.json()["status"]
    logs = {role: c.logs()[-1500:] for role, c in deployment.running.items()}
    assert status == "CONFIRMED", json.dumps(logs, indent=1)

    # The relay in its container published the order's events to Kafka (a topic of this
    # module's own, so the shared broker's other tests do not mix in).
    wanted = ce_type("OrderConfirmed", 1)
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while wanted not in seen and time.monotonic() < deadline:
        events = consume_all(deployment.kafka.bootstrap_servers, ORDER_TOPIC, 100, timeout=2)
        seen = [header_map(m)["ce_type"] for m in events if m.key() == order_id.encode()]
    assert wanted in seen, seen


def test_the_image_refuses_to_start_without_an_environment(image: str) -> None:
    """The image sets ORDERS_ENVIRONMENT to empty: a deployment that forgets to name its
    environment stops at start, instead of running with dev's public secrets."""
    done = containers.run_once(ContainerSpec(image, ["python", "-m", "api"]))
    assert done.returncode != 0
    assert "ORDERS_ENVIRONMENT" in done.stdout + done.stderr


def test_the_image_holds_exactly_the_files_the_unit_checks_read(image: str) -> None:
    """tests/unit/test_image_contents.py reads the image's files from the Dockerfile and
    .dockerignore without a build; the built image must agree with that reading."""
    listed = containers.run_once(
        ContainerSpec(image, ["find", "/app", "-type", "f", "-not", "-path", "*/__pycache__/*"])
    )
    assert listed.returncode == 0, listed.stderr
    built = {line.removeprefix("/app/") for line in listed.stdout.split()}
    expected = {str(file) for file in image_files()} | {"pyproject.toml", "uv.lock"}
    assert built == expected
