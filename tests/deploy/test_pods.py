"""The translator from the chart's rendered pods to ``podman run`` (tests/deploy/pods.py),
which tests/cluster/test_image.py runs the image through: what it keeps, and that a chart
regression (a container without its numeric user or read-only root) or anything it does
not know stops it instead of being dropped."""

from __future__ import annotations

import copy
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.pods import TranslationError, pod_spec, translate
from tests.deploy.tools import CHART, render

RELEASE_API = "order-saga-api"
SECRETS = {
    "order-saga-secrets": {
        "ORDERS_DATABASE__URL": "postgresql+psycopg://orders@db/orders",
        "ORDERS_PAYMENTS__PROVIDER_TOKEN": "provider-token",
    },
    "order-saga-temporal-tls": {"tls.crt": "CERT", "tls.key": "KEY", "ca.crt": "CA"},
}


@pytest.fixture(scope="module")
def documents() -> list[dict[str, Any]]:
    return render([CHART / "values-demo.yaml"])


def _ports(spec: dict[str, Any]) -> dict[int, int]:
    [container] = spec["containers"]
    return {p["containerPort"]: 20000 + i for i, p in enumerate(container.get("ports", []))}


def _api(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return copy.deepcopy(pod_spec(documents, "Deployment", RELEASE_API))


def _translate(spec: dict[str, Any], workdir: Path, **secrets: Any) -> Any:
    return translate(
        RELEASE_API,
        spec,
        "api",
        secrets=secrets or SECRETS,
        workdir=workdir,
        host_ports=_ports(spec),
    )


def test_every_process_of_the_demo_translates(
    documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    translated = {}
    for doc in documents:
        if doc["kind"] in {"Deployment", "Job"}:
            spec = doc["spec"]["template"]["spec"]
            [container] = spec["containers"]
            name = doc["metadata"]["name"]
            translated[name] = translate(
                name,
                spec,
                container["name"],
                secrets=SECRETS,
                workdir=tmp_path,
                host_ports=_ports(spec),
            )
    provider = translated["order-saga-payment-provider"].spec
    # secretKeyRef and envFrom both resolved from the test's Secrets
    assert provider.env["ORDERS_PAYMENTS__PROVIDER_TOKEN"] == "provider-token"
    assert (
        provider.env["ORDERS_DATABASE__URL"]
        == SECRETS["order-saga-secrets"]["ORDERS_DATABASE__URL"]
    )
    # the claim is a writable folder, /tmp the emptyDir's tmpfs with its size
    assert list(provider.volumes.values()) == ["/var/lib/payment-provider"]
    assert provider.tmpfs == ["/tmp,size=64m"]  # noqa: S108  # a path in the container
    assert provider.user == "10001:10001"
    assert provider.read_only


def test_a_secret_volume_is_its_keys_as_files_with_the_volumes_mode(
    documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    pod = _translate(_api(documents), tmp_path)
    [(folder, target)] = pod.spec.mounts.items()
    assert target == "/etc/order-saga/temporal-tls"
    assert {p.name: p.read_text() for p in folder.iterdir()} == SECRETS["order-saga-temporal-tls"]
    mode = stat.S_IMODE((folder / "tls.key").stat().st_mode)
    assert mode & 0o440 == 0o440
    assert not mode & 0o222


def test_the_ports_move_with_the_settings_and_probes_that_name_them(
    documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    spec = _api(documents)
    pod = _translate(spec, tmp_path)
    assert pod.ports == {"http": 20000, "metrics": 20001}
    assert pod.spec.env["ORDERS_API__PORT"] == "20000"
    assert pod.spec.env["ORDERS_TELEMETRY__METRICS_PORT"] == "20001"
    assert (pod.probes["readinessProbe"].port, pod.probes["readinessProbe"].path) == (
        20000,
        "/readyz",
    )
    with pytest.raises(TranslationError, match="no host port"):
        translate(RELEASE_API, spec, "api", secrets=SECRETS, workdir=tmp_path, host_ports={})


@pytest.mark.parametrize(
    ("field", "value", "refusal"),
    [
        ("runAsUser", None, "runAsUser"),
        ("runAsGroup", None, "runAsGroup"),
        ("readOnlyRootFilesystem", False, "readOnlyRootFilesystem"),
        ("allowPrivilegeEscalation", True, "allowPrivilegeEscalation"),
    ],
)
def test_a_container_without_the_restricted_context_is_refused(
    documents: list[dict[str, Any]], tmp_path: Path, field: str, value: object, refusal: str
) -> None:
    spec = _api(documents)
    for context in (spec["securityContext"], spec["containers"][0]["securityContext"]):
        context.pop(field, None)
        if value is not None:
            context[field] = value
    with pytest.raises(TranslationError, match=refusal):
        _translate(spec, tmp_path)


def test_what_the_translator_does_not_know_stops_it(
    documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    spec = _api(documents)
    spec["volumes"][0] = {"name": "tmp", "configMap": {"name": "settings"}}
    with pytest.raises(TranslationError, match="volume tmp not translated"):
        _translate(spec, tmp_path)

    spec = _api(documents)
    spec["containers"][0]["env"].append(
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}
    )
    with pytest.raises(TranslationError, match="env source not translated"):
        _translate(spec, tmp_path)

    spec = _api(documents)
    spec["containers"][0]["envFrom"].append({"configMapRef": {"name": "c"}})
    with pytest.raises(TranslationError, match="envFrom source not translated"):
        _translate(spec, tmp_path)

    spec = _api(documents)
    spec["hostNetwork"] = True
    with pytest.raises(TranslationError, match="hostNetwork"):
        _translate(spec, tmp_path)


def test_a_missing_secret_stops_it_as_it_stops_the_kubelet(
    documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    with pytest.raises(TranslationError, match="order-saga-temporal-tls"):
        _translate(_api(documents), tmp_path, **{"order-saga-secrets": {}})
