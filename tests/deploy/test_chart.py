"""The Helm chart passes the tools platform teams run (helm lint, kubeconform with the
Kubernetes and CRD schemas offline, kube-score) and the chart's own policy (tests/deploy/
policy.py), for every values file shipped; and each of issue 21's Kubernetes blockers,
brought back into the rendered documents, is caught by one of those checks.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from messages import queues
from tests.deploy import policy, tools

pytestmark = pytest.mark.integration

SHAPES = sorted(tools.VALUES_FILES)
Doc = dict[str, Any]


@cache
def _rendered(shape: str) -> tuple[Doc, ...]:
    return tuple(tools.render(tools.VALUES_FILES[shape]))


def rendered(shape: str = "selfhosted-mtls") -> list[Doc]:
    """A fresh copy, so a test may mutate it."""
    return copy.deepcopy(list(_rendered(shape)))


def named(docs: list[Doc], kind: str, suffix: str) -> Doc:
    """The one document of ``kind`` named ``…suffix``, or ``…suffix-<build>`` (a worker
    pool's objects, one per build: the default values run one)."""
    (doc,) = [
        d
        for d in docs
        if d["kind"] == kind
        and (d["metadata"]["name"].endswith(suffix) or f"{suffix}-" in d["metadata"]["name"])
    ]
    return doc


def container(docs: list[Doc], suffix: str) -> Doc:
    spec = policy.pod_spec(named(docs, "Deployment", suffix))
    first: Doc = spec["containers"][0]
    return first


@pytest.mark.parametrize("shape", SHAPES)
def test_helm_lint_passes(shape: str) -> None:
    done = tools.lint(tools.VALUES_FILES[shape])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("shape", SHAPES)
def test_every_document_validates_against_kubernetes_and_crd_schemas(shape: str) -> None:
    result = tools.kubeconform(rendered(shape))
    assert result.valid, result.errors
    assert '"skipped": 0' in result.summary


@pytest.mark.parametrize("shape", SHAPES)
def test_kube_score_finds_nothing_critical_and_only_warnings_explained(shape: str) -> None:
    findings = tools.kube_score(rendered(shape))
    assert [f for f in findings if f.grade == "CRITICAL"] == []
    unexplained = [f for f in findings if f.check not in tools.KUBE_SCORE_ACCEPTED_WARNINGS]
    assert unexplained == []
    provider_only = {"deployment-strategy"}
    for finding in findings:
        if finding.check in provider_only:
            assert finding.object.endswith("payment-provider"), finding


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("check", sorted(policy.CHECKS))
def test_the_chart_keeps_its_policy(shape: str, check: str) -> None:
    assert policy.CHECKS[check](rendered(shape)) == []


@pytest.mark.parametrize("shape", SHAPES)
def test_every_process_runs_in_production_and_only_the_demo_has_the_allowance(shape: str) -> None:
    assert policy.production_environment(rendered(shape), demo=shape == "demo") == []


def test_a_worker_pool_per_queue_scaled_by_keda_on_its_own_backlog() -> None:
    docs = rendered()
    for queue in queues.ALL:
        deployment = named(docs, "Deployment", f"worker-{queue}")
        assert container(docs, f"worker-{queue}")["command"] == ["python", "-m", f"workers.{queue}"]
        (trigger,) = named(docs, "ScaledObject", f"worker-{queue}")["spec"]["triggers"]
        assert trigger["type"] == "temporal"
        assert trigger["metadata"]["taskQueue"] == queue
        expected = "workflow" if queue == queues.ORDERS else "activity"
        assert trigger["metadata"]["queueTypes"] == expected
        env = policy.literal_env(container(docs, f"worker-{queue}"))
        assert trigger["metadata"]["namespace"] == env["ORDERS_TEMPORAL__NAMESPACE"]
        assert trigger["metadata"]["endpoint"] == env["ORDERS_TEMPORAL__ADDRESS"]
        assert trigger["metadata"]["tlsServerName"] == env["ORDERS_TEMPORAL__TLS_SERVER_NAME"]
        assert (
            deployment["metadata"]["name"]
            == named(docs, "ScaledObject", f"worker-{queue}")["spec"]["scaleTargetRef"]["name"]
        )


def test_a_worker_grace_period_covers_prestop_and_its_drain() -> None:
    """preStop + ORDERS_WORKERS__GRACEFUL_SHUTDOWN_SECONDS + 10 s fit in the grace period,
    so the kubelet never kills a draining worker."""
    docs = rendered()
    for queue in queues.ALL:
        worker = container(docs, f"worker-{queue}")
        drain = float(policy.literal_env(worker)["ORDERS_WORKERS__GRACEFUL_SHUTDOWN_SECONDS"])
        pre_stop = worker["lifecycle"]["preStop"]["exec"]["command"]
        grace = policy.pod_spec(named(docs, "Deployment", f"worker-{queue}"))
        assert grace["terminationGracePeriodSeconds"] == int(pre_stop[1]) + drain + 10


def test_the_simulated_provider_runs_only_in_the_demo_with_its_token_from_the_secret() -> None:
    for shape in SHAPES:
        providers = [
            d for d in rendered(shape) if d["metadata"]["name"].endswith("payment-provider")
        ]
        assert bool(providers) == (shape == "demo"), shape
    docs = rendered("demo")
    provider = named(docs, "Deployment", "payment-provider")
    assert provider["spec"]["replicas"] == 1
    assert provider["spec"]["strategy"]["type"] == "Recreate"
    (token,) = [
        e
        for e in container(docs, "payment-provider")["env"]
        if e["name"] == "ORDERS_PAYMENTS__PROVIDER_TOKEN"
    ]
    assert token["valueFrom"]["secretKeyRef"]["name"] == "order-saga-secrets"
    port = named(docs, "Service", "payment-provider")["spec"]["ports"][0]["port"]
    url = policy.literal_env(container(docs, "worker-payments"))["ORDERS_PAYMENTS__PROVIDER_URL"]
    assert url == f"http://order-saga-payment-provider:{port}"


def test_the_chart_refuses_latest_and_a_simulated_provider_outside_a_demo() -> None:
    with pytest.raises(tools.RenderError, match=r"image\.tag latest"):
        tools.render([], {"image.tag": "latest"})
    with pytest.raises(tools.RenderError, match="demoAllowance"):
        tools.render([], {"paymentProvider.enabled": "true"})
    with pytest.raises(tools.RenderError, match="exclusive"):
        tools.render([], {"temporal.apiKey.enabled": "true", "temporal.apiKey.existingSecret": "k"})


# --- tests of the tests: each blocker of issue 21, brought back, is caught -----------------


def _drop_tls_from_workers(docs: list[Doc]) -> None:
    """TLS on one side only: KEDA dials mTLS, the workers neither mount nor name a cert."""
    for doc in docs:
        if doc["kind"] == "Deployment" and "worker-" in doc["metadata"]["name"]:
            for c in policy.pod_spec(doc)["containers"]:
                c["env"] = [e for e in c["env"] if "TLS" not in e["name"]]


def _latest_without_registry(docs: list[Doc]) -> None:
    container(docs, "api")["image"] = "order-saga:latest"


def _ship_a_secret(docs: list[Doc]) -> None:
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "order-saga-secrets"},
            "stringData": {"ORDERS_DATABASE__URL": "postgresql://orders:change-me@db/orders"},
        }
    )


def _fixed_name_bootstrap(docs: list[Doc]) -> None:
    job = next(d for d in docs if d["kind"] == "Job")
    job["metadata"]["name"] = "order-saga-bootstrap"
    del job["metadata"]["annotations"]
    del job["spec"]["ttlSecondsAfterFinished"]


def _replicas_on_a_scaled_deployment(docs: list[Doc]) -> None:
    named(docs, "Deployment", "worker-payments")["spec"]["replicas"] = 2


def _pdb_blocking_drains(docs: list[Doc]) -> None:
    named(docs, "ScaledObject", "worker-orders")["spec"]["minReplicaCount"] = 1
    spec = named(docs, "PodDisruptionBudget", "worker-orders")["spec"]
    del spec["maxUnavailable"]
    del spec["unhealthyPodEvictionPolicy"]
    spec["minAvailable"] = 1


def _readiness_asking_temporal(docs: list[Doc]) -> None:
    container(docs, "worker-orders")["readinessProbe"]["httpGet"]["path"] = "/pollers"


def _enable_tls_without_server_name(docs: list[Doc]) -> None:
    metadata = named(docs, "ScaledObject", "worker-inventory")["spec"]["triggers"][0]["metadata"]
    metadata["enableTLS"] = "true"
    del metadata["tlsServerName"]


def _no_security_context(docs: list[Doc]) -> None:
    deployment = named(docs, "Deployment", "outbox-relay")
    del policy.pod_spec(deployment)["securityContext"]
    del policy.pod_spec(deployment)["containers"][0]["securityContext"]


def _api_without_prestop_pdb_hpa(docs: list[Doc]) -> None:
    del container(docs, "api")["lifecycle"]
    docs[:] = [
        d
        for d in docs
        if not (
            d["kind"] in {"PodDisruptionBudget", "HorizontalPodAutoscaler"}
            and d["metadata"]["name"].endswith("-api")
        )
    ]


def _codec_on_the_public_port(docs: list[Doc]) -> None:
    for e in container(docs, "api")["env"]:
        if e["name"] == "ORDERS_API__SERVE_CODEC":
            e["value"] = "true"
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    ingress["spec"]["rules"][0]["http"]["paths"].append(
        {
            "path": "/codec",
            "pathType": "Prefix",
            "backend": {"service": {"name": "order-saga-codec", "port": {"name": "codec"}}},
        }
    )


def _no_network_policy_nor_ingress(docs: list[Doc]) -> None:
    docs[:] = [d for d in docs if d["kind"] not in {"NetworkPolicy", "Ingress"}]


def _numeric_user_as_a_name(docs: list[Doc]) -> None:
    """`USER orders` carried into the pod: a name where Kubernetes wants a number."""
    container(docs, "api")["securityContext"]["runAsUser"] = "orders"


BLOCKERS: dict[str, tuple[Callable[[list[Doc]], None], str, str]] = {
    # blocker: (mutation, the check that catches it, a word of what it reports)
    "tls-on-one-side": (_drop_tls_from_workers, "temporal-tls", "TLS_CLIENT_CERT_PATH"),
    "latest-no-registry": (_latest_without_registry, "images", "names no registry"),
    "secret-with-values": (_ship_a_secret, "secrets", "Secret/order-saga-secrets"),
    "fixed-name-bootstrap": (_fixed_name_bootstrap, "bootstrap", "per revision"),
    "replicas-on-scaled": (_replicas_on_a_scaled_deployment, "replicas", "worker-payments"),
    "pdb-blocks-drain": (_pdb_blocking_drains, "drains", "minAvailable 1 of 1"),
    "readiness-asks-temporal": (_readiness_asking_temporal, "worker-probes", "/readyz"),
    "enabletls-no-servername": (_enable_tls_without_server_name, "keda", "tlsServerName"),
    "no-security-context": (_no_security_context, "security-context", "runAsNonRoot"),
    "api-without-prestop-pdb-hpa": (_api_without_prestop_pdb_hpa, "api", "no preStop"),
    "codec-on-public-port": (_codec_on_the_public_port, "codec", "routes /codec"),
    "no-networkpolicy-ingress": (_no_network_policy_nor_ingress, "edge", "no NetworkPolicy"),
}


@pytest.mark.parametrize("blocker", sorted(BLOCKERS))
def test_each_blocker_brought_back_is_caught(blocker: str) -> None:
    mutate, check, reported = BLOCKERS[blocker]
    docs = rendered()
    assert policy.CHECKS[check](docs) == []
    mutate(docs)
    problems = policy.CHECKS[check](docs)
    assert any(reported in problem for problem in problems), problems


def test_kube_score_catches_a_container_without_security_context_or_limits() -> None:
    docs = rendered()
    _no_security_context(docs)
    del container(docs, "worker-orders")["resources"]
    critical = {(f.object, f.check) for f in tools.kube_score(docs) if f.grade == "CRITICAL"}
    relay = "Deployment/order-saga-outbox-relay"
    assert (relay, "container-security-context-user-group-id") in critical
    assert ("Deployment/order-saga-worker-orders-0-1-0", "container-resources") in critical


def test_kube_score_catches_latest_and_a_pod_without_network_policy() -> None:
    docs = rendered()
    _latest_without_registry(docs)
    _no_network_policy_nor_ingress(docs)
    critical = {(f.object, f.check) for f in tools.kube_score(docs) if f.grade == "CRITICAL"}
    assert ("Deployment/order-saga-api", "container-image-tag") in critical
    assert ("Deployment/order-saga-api", "pod-networkpolicy") in critical


def test_kubeconform_catches_a_user_name_and_a_misspelt_crd_field() -> None:
    """Strict: a name where Kubernetes wants a number, and a ScaledObject field KEDA does
    not know, are errors (the CRDs are closed as strict field validation closes them)."""
    docs = rendered()
    _numeric_user_as_a_name(docs)
    named(docs, "ScaledObject", "worker-payments")["spec"]["maxReplicas"] = 3
    errors = "\n".join(tools.kubeconform(docs).errors)
    assert "Deployment/order-saga-api" in errors
    assert "ScaledObject/order-saga-worker-payments-0-1-0" in errors
    assert "maxReplicas" in errors


def test_a_trigger_key_keda_2_21_does_not_read_is_caught() -> None:
    """Trigger metadata is a free-form map in the CRD, so only the check against the scaler's
    own parameter list (read from KEDA v2.21.0's source) catches a key it would ignore."""
    docs = rendered()
    metadata = named(docs, "ScaledObject", "worker-orders")["spec"]["triggers"][0]["metadata"]
    metadata["tlsServername"] = metadata.pop("tlsServerName")
    assert tools.kubeconform(docs).valid
    problems = policy.keda_triggers(docs)
    assert any("not a KEDA 2.21 parameter ['tlsServername']" in p for p in problems), problems


def test_keda_2_21_knows_tls_server_name_and_the_chart_sets_no_enable_tls() -> None:
    """Read from the v2.21.0 source: tlsServerName is a trigger parameter there, and so is
    enableTLS (ignored beside a client certificate, default true with an API key): the chart
    leaves enableTLS to its default, and the check refuses any value of it."""
    known = policy.temporal_scaler_parameters()
    assert {"endpoint", "namespace", "taskQueue", "queueTypes", "tlsServerName"} <= known[
        "triggerMetadata"
    ]
    assert {"cert", "key", "ca", "apiKey"} <= known["authParams"]
    for shape in SHAPES:
        for scaled in policy.by_kind(rendered(shape), "ScaledObject").values():
            assert "enableTLS" not in scaled["spec"]["triggers"][0]["metadata"]
