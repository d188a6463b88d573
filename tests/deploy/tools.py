"""The tools a platform team runs on a Helm chart, for the tests: helm, kubeconform, kube-score.

``render(values_files, set_values)`` gives the chart's documents as Python objects (any test
may use it: the image's tests turn a rendered container's environment into ``podman run``
arguments). The binaries are Go-built like the project's servers (devstack/go_servers.py).

kubeconform reads JSON schemas from folders laid out by kind. Nothing is fetched:
- the Kubernetes API's schemas come from the pinned ``kubernetes-validate`` package, whose
  files point at their shared definitions by an absolute URL that kubeconform would try to
  download; copied here with those references made relative;
- the custom resources' schemas (KEDA's, prometheus-operator's) come from the CRDs in their
  Go modules, closed as ``kubectl apply --validate=strict`` treats them (tests/deploy/
  crd_schemas.py): a field the CRD does not declare is an error.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from devstack import go_servers
from devstack.process import ServiceUnavailableError
from tests.deploy.crd_schemas import closed_schema
from tests.fixtures.services import service_unavailable

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "order-saga"
# The three shapes shipped, and the defaults.
VALUES_FILES = {
    "default": [],
    "selfhosted-mtls": [CHART / "values-selfhosted-mtls.yaml"],
    "temporal-cloud": [CHART / "values-temporal-cloud.yaml"],
    "demo": [CHART / "values-demo.yaml"],
}
RELEASE = "order-saga"
NAMESPACE = "orders"
# The newest Kubernetes whose schemas kubernetes-validate ships.
KUBERNETES_VERSION = "1.37.0"
PROMETHEUS_OPERATOR = ("github.com/prometheus-operator/prometheus-operator", "v0.85.0")
OPERATOR_CRDS = (
    "monitoring.coreos.com_servicemonitors.yaml",
    "monitoring.coreos.com_prometheusrules.yaml",
)

__all__ = [
    "CHART",
    "VALUES_FILES",
    "KubeScoreFinding",
    "kube_score",
    "kubeconform",
    "render",
    "render_text",
    "to_yaml",
]


def tool(name: str) -> Path:
    try:
        return go_servers.binary(name)
    except ServiceUnavailableError as exc:
        service_unavailable(f"{name} is Go-built (python -m devstack.go_servers build): {exc}")


def _run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def _set_args(set_values: dict[str, str] | None) -> list[str]:
    return [arg for key, value in (set_values or {}).items() for arg in ("--set", f"{key}={value}")]


def render_text(values_files: list[Path], set_values: dict[str, str] | None = None) -> str:
    """``helm template`` of the chart; a failed render raises with helm's message."""
    args = [str(tool("helm")), "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    args += [arg for path in values_files for arg in ("-f", str(path))]
    done = _run(args + _set_args(set_values))
    if done.returncode != 0:
        raise RenderError(done.stderr.strip())
    return done.stdout


class RenderError(Exception):
    """The chart refused these values (a ``required`` or ``fail`` of a template)."""


def render(
    values_files: list[Path], set_values: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The rendered documents, as the API server would receive them."""
    return [doc for doc in yaml.safe_load_all(render_text(values_files, set_values)) if doc]


def lint(values_files: list[Path]) -> subprocess.CompletedProcess[str]:
    args = [str(tool("helm")), "lint", str(CHART), "--strict"]
    return _run(args + [arg for path in values_files for arg in ("-f", str(path))])


def to_yaml(documents: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)


# --- kubeconform -------------------------------------------------------------------------


def _kubernetes_schemas(target: Path) -> Path:
    source = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / f"v{KUBERNETES_VERSION}-local-strict"
    )
    folder = target / "kubernetes"
    folder.mkdir()
    for path in source.glob("*.json"):
        text = path.read_text().replace('"/api/_definitions.json#', '"_definitions.json#')
        schema = json.loads(text)
        # An $id names an http URL kubeconform would resolve the references against.
        schema.pop("$id", None)
        (folder / path.name).write_text(json.dumps(schema))
    return folder


def _crd_schemas(target: Path) -> Path:
    folder = target / "crds"
    crd_files = sorted((go_servers.module_dir("keda") / "config" / "crd" / "bases").glob("*.yaml"))
    operator = go_servers.download_module(*PROMETHEUS_OPERATOR)
    crd_files += [operator / "example" / "prometheus-operator-crd" / name for name in OPERATOR_CRDS]
    for path in crd_files:
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = closed_schema(version["schema"]["openAPIV3Schema"])
            out = folder / group / f"{kind.lower()}_{version['name']}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(schema))
    return folder


@cache
def schema_locations() -> list[str]:
    """kubeconform's -schema-location templates for every kind the chart renders."""
    target = Path(tempfile.mkdtemp(prefix="order-saga-schemas-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    try:
        crds = _crd_schemas(target)
    except ServiceUnavailableError as exc:
        service_unavailable(f"the CRDs come from KEDA's and the operator's Go modules: {exc}")
    kubernetes = _kubernetes_schemas(target)
    return [
        f"{kubernetes}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
        f"{crds}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
    ]


@dataclass(frozen=True)
class Validation:
    valid: bool
    errors: list[str]
    summary: str


def kubeconform(documents: list[dict[str, Any]]) -> Validation:
    """kubeconform -strict on the documents: Kubernetes schemas and the CRDs', offline; a
    kind without a schema is an error, not a skip."""
    args = [str(tool("kubeconform")), "-strict", "-summary", "-output", "json"]
    args += ["-kubernetes-version", KUBERNETES_VERSION]
    for location in schema_locations():
        args += ["-schema-location", location]
    done = _run([*args, "-"], stdin=to_yaml(documents))
    report = json.loads(done.stdout)
    errors = [
        f"{r['kind']}/{r['name']}: {r['status']}: {r['msg']}"
        for r in report.get("resources", [])
        if r["status"] != "statusValid"
    ]
    return Validation(done.returncode == 0 and not errors, errors, json.dumps(report["summary"]))


# --- kube-score --------------------------------------------------------------------------

# Checks not applied, each with why. Everything else kube-score knows is applied, and a
# CRITICAL finding fails the chart.
KUBE_SCORE_IGNORED = {
    # It asks for `Always`; the chart pins a version or a digest and pulls IfNotPresent, so a
    # restart needs no registry and every pod of a revision runs the same build.
    "container-image-pull-policy": "pinned tag or digest, IfNotPresent",
}
# Warnings accepted, each with why; any other warning fails the chart too.
KUBE_SCORE_ACCEPTED_WARNINGS = {
    # It reads a Deployment without `replicas:` as one replica. KEDA owns the workers' count
    # (minReplicaCount 2); the demo provider is one replica on purpose (one SQLite ledger).
    "deployment-replicas": "KEDA-scaled pools and the demo provider",
    # The demo provider is Recreate: two pods must never share its ledger file.
    "deployment-strategy": "the demo provider",
}
# No CPU limit: a limit throttles the event loops under load while the node has spare CPU
# (Temporal's workers then miss heartbeats); requests reserve what each pod needs.
KUBE_SCORE_FLAGS = ["--ignore-container-cpu-limit"]


@dataclass(frozen=True)
class KubeScoreFinding:
    object: str
    check: str
    grade: str
    message: str


# kube-score's grades: 1 critical, 5 warning, 7 almost OK, 10 all OK.
ALL_OK = 10
CRITICAL = 1


def kube_score(documents: list[dict[str, Any]]) -> list[KubeScoreFinding]:
    """kube-score's findings of grade WARNING or CRITICAL (the ignored checks left out)."""
    args = [str(tool("kube-score")), "score", "--output-format", "json", *KUBE_SCORE_FLAGS]
    for check in KUBE_SCORE_IGNORED:
        args += ["--ignore-test", check]
    # CRDs kube-score does not know are passed over by it (kubeconform checks them).
    done = _run([*args, "-"], stdin=to_yaml(documents))
    if done.returncode not in (0, 1):
        raise RuntimeError(f"kube-score failed: {done.stderr}")
    findings = []
    for scored in json.loads(done.stdout):
        name = f"{scored['type_meta']['kind']}/{scored['object_meta']['name']}"
        for check in scored["checks"]:
            if check["skipped"] or check["grade"] >= ALL_OK:
                continue
            grade = "CRITICAL" if check["grade"] == CRITICAL else "WARNING"
            message = "; ".join(
                f"{c.get('path', '')} {c['summary']}".strip() for c in check.get("comments") or []
            )
            findings.append(KubeScoreFinding(name, check["check"]["id"], grade, message))
    return findings


def environment_of(container: dict[str, Any]) -> dict[str, str]:
    """The literal ``env`` of a rendered container (values from Secrets are not here)."""
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}
