"""The image as shipped, run as the Helm chart runs it: every process the chart defines
(the bootstrap and promotion hook Jobs, the API, the codec server, each worker pool, the
outbox relay and the demo's payment provider) starts from the image with the command,
environment, mounts and securityContext of the chart's rendered pods (values-demo.yaml:
production with the demo allowance), against this session's two-node Temporal cluster (mTLS), a real
PostgreSQL and Kafka. An order placed through the containerised API is CONFIRMED and its
event reaches Kafka; each pod's probes answer as the kubelet asks them; the codec server
decodes for an operator only. The image's own default environment refuses to start.

The image is built by ``devstack.image`` (``.ci/run`` builds it beforehand, so here it is
found by its tag); the rendered pods become ``podman run`` arguments (tests/deploy/pods.py),
with the test's own Secrets. What differs from a cluster is the short list of ``--set``
overrides in ``_overrides`` and the ports each pod moves to on the shared host network.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients.codec import ENCODING, KEY_ID
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
from tests.deploy import tools
from tests.deploy.pods import Pod, Probe, translate
from tests.fixtures.kafka import consume_all
from tests.fixtures.services import service_unavailable
from tests.integration.outbox_helpers import header_map

pytestmark = pytest.mark.integration

DATABASE = "orders_image"
ORDER_TOPIC = f"order-events-image-{secrets.token_hex(3)}"
VALUES = [tools.CHART / "values-demo.yaml"]
# The user the chart's podSecurity gives every container (values.yaml).
CHART_UID, CHART_GID = 10001, 10001
# Every Deployment of the demo, by its component.
PROCESSES = {
    "api",
    "codec",
    "outbox-relay",
    "payment-provider",
    *(f"worker-{queue}" for queue in queues.ALL),
}


@pytest.fixture(scope="module")
def image() -> str:
    try:
        return build_image(quiet=True)
    except ServiceUnavailableError as exc:
        service_unavailable(f"the image cannot be built here: {exc}")


@dataclass
class Deployment:
    pods: dict[str, Pod]
    issuer_key: Path
    kafka: KafkaBroker
    running: dict[str, Container] = field(default_factory=dict)

    def url(self, role: str, port: str) -> str:
        return f"http://127.0.0.1:{self.pods[role].ports[port]}"


def _overrides(
    image: str, cluster: TemporalCluster, kafka: KafkaBroker, issuer: JwksIssuer, ports: list[int]
) -> dict[str, str]:
    """What differs on this machine from the demo's values, and nothing else."""
    repository, _, tag = image.rpartition(":")
    codec_port, provider_port = ports
    issuer_env = issuer.settings_env()
    return {
        # The image built here, by its tag (there is no registry to pull from).
        "image.repository": repository,
        "image.tag": tag,
        # This session's cluster: both frontends (the processes fail over between them;
        # helm's --set needs the comma escaped) and the name on the frontends' certificate.
        "temporal.address": cluster.address.replace(",", r"\,"),
        "temporal.mtls.serverName": SERVER_NAME,
        "kafka.bootstrapServers": kafka.bootstrap_servers,
        # The local issuer whose key signs the test's tokens.
        "auth.jwksUrl": issuer_env["ORDERS_AUTH__JWKS_URL"],
        "auth.issuer": issuer_env["ORDERS_AUTH__ISSUER"],
        # Ports the chart takes as values, free ones: every pod shares the host's network.
        "codec.port": str(codec_port),
        "paymentProvider.port": str(provider_port),
        # A topic of this module's own, so the shared broker's other tests do not mix in.
        "extraEnv.ORDERS_KAFKA__ORDER_TOPIC": ORDER_TOPIC,
    }


def _test_secrets(cluster: TemporalCluster, database_url: str, run_dir: Path) -> dict[str, Any]:
    """The Secrets the demo's values name, created before an install (docs/kubernetes.md):
    the service's secrets and the cluster's real client certificate for Temporal's mTLS."""
    certificates = cluster.certificates
    assert certificates is not None
    return {
        "order-saga-secrets": {
            "ORDERS_DATABASE__URL": database_url,
            **codec_env(run_dir),
            "ORDERS_PAYMENTS__PROVIDER_TOKEN": secrets.token_urlsafe(24),
        },
        "order-saga-temporal-tls": {
            "tls.crt": certificates.client_cert.read_text(),
            "tls.key": certificates.client_key.read_text(),
            "ca.crt": certificates.ca.read_text(),
        },
    }


def _pods(
    documents: list[dict[str, Any]],
    test_secrets: dict[str, Any],
    run_dir: Path,
    value_ports: list[int],
) -> dict[str, Pod]:
    """Every Deployment's and Job's one container, by role; each Service's name resolves
    to this machine (its pods listen here)."""
    hosts = {d["metadata"]["name"]: "127.0.0.1" for d in documents if d["kind"] == "Service"}
    pods = {}
    for doc in documents:
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        spec = doc["spec"]["template"]["spec"]
        [container] = spec["containers"]
        # A port the chart takes as a value stays (a Service's URL names it); the fixed
        # ones move to free ports.
        moved = {
            port["containerPort"]: port["containerPort"]
            if port["containerPort"] in value_ports
            else listen_port()
            for port in container.get("ports", [])
        }
        name = doc["metadata"]["name"]
        # The component: a worker pool's Deployment is named for its build too.
        role = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        pods[role] = translate(
            name,
            spec,
            container["name"],
            secrets=test_secrets,
            workdir=run_dir / "pods",
            host_ports=moved,
            hosts=hosts,
            namespace=tools.NAMESPACE,
        )
    return pods


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
    value_ports = [listen_port(), listen_port()]
    documents = tools.render(
        VALUES, _overrides(image, temporal_cluster, kafka_broker, issuer, value_ports)
    )
    database_url = temporal_cluster.postgres.create_database(DATABASE, exist_ok=True)
    test_secrets = _test_secrets(temporal_cluster, database_url, run_dir)
    pods = _pods(documents, test_secrets, run_dir, value_ports)
    assert set(pods) == {"bootstrap", "promote", *PROCESSES}
    deployed = Deployment(pods, issuer.key_path, kafka_broker)
    try:
        _start(deployed)
        yield deployed
    finally:
        for container in deployed.running.values():
            container.stop()
        issuer.stop()


def _start(deployed: Deployment) -> None:
    # The chart's hook Job: migrations, namespace, search attributes, and (demo shape) the
    # demo catalog.
    bootstrap = deployed.pods["bootstrap"].spec
    assert bootstrap.command[-1] == "--demo-catalog", bootstrap.command
    done = containers.run_once(bootstrap)
    assert done.returncode == 0, f"{' '.join(bootstrap.command)}:\n{done.stdout}\n{done.stderr}"
    suffix = secrets.token_hex(3)
    started = time.monotonic()
    for role in sorted(PROCESSES, key=lambda r: r != "payment-provider"):
        name = f"order-saga-test-{role}-{suffix}"
        deployed.running[role] = containers.start(deployed.pods[role].spec, name)

    # The kubelet's startupProbe: each pod has period x failureThreshold to answer.
    waiting = set(PROCESSES)

    def all_started() -> bool:
        exited = [role for role, c in deployed.running.items() if not c.running()]
        if exited:
            logs = "\n".join(f"--- {r}:\n{deployed.running[r].logs()[-2000:]}" for r in exited)
            raise AssertionError(f"containers exited: {exited}\n{logs}")
        for role in sorted(waiting):
            probe = deployed.pods[role].probes["startupProbe"]
            if _answers(probe):
                waiting.discard(role)
            elif time.monotonic() - started > probe.period_seconds * probe.failure_threshold:
                logs = deployed.running[role].logs()[-3000:]
                raise AssertionError(f"{role}: startupProbe failed for its budget\n{logs}")
        return not waiting

    budget = max(
        p.probes["startupProbe"].period_seconds * p.probes["startupProbe"].failure_threshold
        for r, p in deployed.pods.items()
        if r in PROCESSES
    )
    wait_until(all_started, budget + 5, f"the pods' startupProbes: {waiting}", interval=1.0)
    # The chart's post-install hook: the workers poll as the image's build, and new sagas
    # reach them once it is the Worker Deployment's current version (docs/versioning.md).
    promote = deployed.pods["promote"].spec
    done = containers.run_once(promote)
    assert done.returncode == 0, f"{' '.join(promote.command)}:\n{done.stdout}\n{done.stderr}"


def _answers(probe: Probe) -> bool:
    """One probe as the kubelet makes it: an HTTP GET answered 200 to 399, or a TCP connect."""
    try:
        if probe.path is None:
            socket.create_connection(("127.0.0.1", probe.port), timeout=1).close()
            return True
        answer = httpx.get(f"http://127.0.0.1:{probe.port}{probe.path}", timeout=1)
    except (OSError, httpx.HTTPError):
        return False
    return 200 <= answer.status_code < 400


def test_every_process_runs_as_a_numeric_non_root_user_on_a_read_only_root(
    deployment: Deployment,
) -> None:
    assert set(deployment.running) == PROCESSES
    for role, container in deployment.running.items():
        assert container.running(), f"{role} exited:\n{container.logs()[-3000:]}"
        assert container.inspect("{{.Config.User}}") == f"{CHART_UID}:{CHART_GID}", role
        assert container.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true", role
        assert container.exec("id", "-u").stdout.strip() == str(CHART_UID), role
        written = container.exec("python", "-c", "open('/written-by-the-process', 'w')")
        assert written.returncode != 0, role
        assert "Read-only file system" in written.stderr, (role, written.stderr)


def test_every_pod_answers_its_readiness_and_liveness_probes(deployment: Deployment) -> None:
    """The chart's probes, on the chart's paths and ports, as the kubelet asks them; the
    workers' /readyz among them (no call to Temporal behind it)."""
    for role in PROCESSES:
        probes = deployment.pods[role].probes
        assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(probes), role
        for kind in ("readinessProbe", "livenessProbe"):
            assert _answers(probes[kind]), (role, kind, deployment.running[role].logs()[-2000:])
    for queue in queues.ALL:
        ready = httpx.get(f"{deployment.url(f'worker-{queue}', 'probes')}/readyz", timeout=5)
        assert ready.status_code == 200, (queue, ready.text)


def test_the_codec_server_decodes_for_an_operator_only(deployment: Deployment) -> None:
    """The codec Deployment (off the public API, whose /codec is not served) answers
    /healthz, refuses a caller without a token (401) or with a customer's (403), and
    round-trips a payload with the Secret's active key for an operator."""
    codec = deployment.url("codec", "codec")
    assert httpx.get(f"{codec}/healthz", timeout=5).status_code == 200

    def auth(subject: str, role: str) -> dict[str, str]:
        token = mint_token(AuthSettings(), subject, role, issuer_key=deployment.issuer_key)
        return {"Authorization": f"Bearer {token}"}

    clear = {"payloads": [_payload(b"json/plain", b'{"email": "c@example.com"}')]}
    nobody = httpx.post(f"{codec}/codec/encode", json=clear, timeout=10)
    customer = httpx.post(
        f"{codec}/codec/encode", json=clear, headers=auth("cust-codec", "customer"), timeout=10
    )
    assert nobody.status_code == 401
    assert customer.status_code == 403
    operator = auth("ops-olga", "operator")
    encoded = httpx.post(f"{codec}/codec/encode", json=clear, headers=operator, timeout=10)
    assert encoded.status_code == 200, encoded.text
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
    active = json.loads(deployment.pods["codec"].spec.env["ORDERS_TEMPORAL__CODEC__KEYS"])
    assert base64.b64decode(sealed["metadata"][KEY_ID]).decode() in active
    decoded = httpx.post(f"{codec}/codec/decode", json=encoded.json(), headers=operator, timeout=10)
    assert decoded.status_code == 200, decoded.text
    assert decoded.json() == clear
    public = httpx.post(f"{deployment.url('api', 'http')}/codec/decode", json=clear, timeout=10)
    assert public.status_code == 404


def _payload(encoding: bytes, data: bytes) -> dict[str, Any]:
    return {
        "metadata": {"encoding": base64.b64encode(encoding).decode()},
        "data": base64.b64encode(data).decode(),
    }


def test_an_order_placed_through_the_containerised_api_is_confirmed(
    deployment: Deployment,
) -> None:
    api = deployment.url("api", "http")
    token = mint_token(
        AuthSettings(),
        "image-customer",
        "customer",
        email="c@example.com",
        issuer_key=deployment.issuer_key,
    )
    headers = {"Authorization": f"Bearer {token}"}
    placed = httpx.post(
        f"{api}/orders",
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
        read = httpx.get(f"{api}/orders/{order_id}", headers=headers, timeout=10)
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
