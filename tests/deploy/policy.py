"""What the chart must hold beyond what schemas and kube-score check, read off the rendered
documents. Each function returns the problems it finds (empty: the documents pass), so a test
can show that a mutation bringing back one of issue 21's blockers is caught.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from devstack import go_servers
from devstack.process import ServiceUnavailableError
from tests.fixtures.services import service_unavailable

Doc = dict[str, Any]
# kube-score's floor for user and group ids: above the host's system and user ranges.
MIN_ID = 10000
WORKLOADS = {"Deployment", "Job", "StatefulSet", "DaemonSet"}
# Processes that talk to Temporal (all but the simulated provider).
TEMPORAL_COMMANDS = ("api", "api.codec", "outbox", "tools.bootstrap", "workers.")


def by_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def pod_spec(workload: Doc) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(docs: list[Doc]) -> Iterator[tuple[str, Doc, Doc]]:
    """(workload name, pod spec, container) of every container of every workload."""
    for doc in docs:
        if doc["kind"] in WORKLOADS:
            spec = pod_spec(doc)
            for container in spec.get("initContainers", []) + spec["containers"]:
                yield f"{doc['kind']}/{doc['metadata']['name']}", spec, container


def literal_env(container: Doc) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def module_of(container: Doc) -> str:
    command = container.get("command", [])
    return command[2] if command[:2] == ["python", "-m"] else ""


def talks_to_temporal(container: Doc) -> bool:
    module = module_of(container)
    return module in TEMPORAL_COMMANDS or module.startswith("workers.")


def _mount_of(spec: Doc, container: Doc, path: str) -> Doc | None:
    """The volume whose mount holds ``path`` in this container."""
    for mount in container.get("volumeMounts", []):
        if path.startswith(mount["mountPath"].rstrip("/") + "/"):
            for volume in spec.get("volumes", []):
                if volume["name"] == mount["name"]:
                    return volume  # type: ignore[no-any-return]
    return None


def temporal_tls_on_both_sides(docs: list[Doc]) -> list[str]:
    """KEDA and every process dial Temporal the same way: the certificate Secret KEDA's
    TriggerAuthentication names is mounted in every process at the paths its settings name;
    an API key KEDA reads is the one every process reads."""
    problems = []
    for auth in by_kind(docs, "TriggerAuthentication").values():
        refs = {ref["parameter"]: ref for ref in auth["spec"].get("secretTargetRef", [])}
        for where, spec, container in containers(docs):
            if not talks_to_temporal(container):
                continue
            env = literal_env(container)
            if "cert" in refs:
                secret = refs["cert"]["name"]
                for variable, key in (
                    ("ORDERS_TEMPORAL__TLS_CLIENT_CERT_PATH", refs["cert"]["key"]),
                    ("ORDERS_TEMPORAL__TLS_CLIENT_KEY_PATH", refs["key"]["key"]),
                    ("ORDERS_TEMPORAL__TLS_SERVER_CA_PATH", refs["ca"]["key"]),
                ):
                    path = env.get(variable, "")
                    volume = _mount_of(spec, container, path) if path else None
                    mounted = (volume or {}).get("secret", {}).get("secretName")
                    if not path.endswith(f"/{key}") or mounted != secret:
                        problems.append(f"{where}: {variable} is not {secret}'s {key}, mounted")
            if "apiKey" in refs:
                sources = {
                    e["name"]: e.get("valueFrom", {}).get("secretKeyRef")
                    for e in container.get("env", [])
                }
                want = {"name": refs["apiKey"]["name"], "key": refs["apiKey"]["key"]}
                if sources.get("ORDERS_TEMPORAL__API_KEY") != want:
                    problems.append(f"{where}: ORDERS_TEMPORAL__API_KEY is not KEDA's {want}")
    tls_processes = [
        where
        for where, _, container in containers(docs)
        if literal_env(container).get("ORDERS_TEMPORAL__TLS") == "true"
    ]
    if tls_processes and not by_kind(docs, "TriggerAuthentication"):
        problems.append("processes dial Temporal over TLS but KEDA has no TriggerAuthentication")
    return problems


_REGISTRY = re.compile(r"^(localhost|[^/]*[.:][^/]*)/")


def images_pullable(docs: list[Doc]) -> list[str]:
    """A registry host, a version or digest (never latest), and no pull on every start."""
    problems = []
    for where, _, container in containers(docs):
        image = container["image"]
        name, _, tag = image.partition("@")[0].rpartition(":")
        if not _REGISTRY.match(image):
            problems.append(f"{where}: {image} names no registry")
        if "@sha256:" not in image and (not name or tag in {"", "latest"} or "/" in tag):
            problems.append(f"{where}: {image} is not pinned to a version or digest")
        if container.get("imagePullPolicy") != "IfNotPresent":
            problems.append(f"{where}: imagePullPolicy {container.get('imagePullPolicy')}")
    return problems


def no_secret_values(docs: list[Doc]) -> list[str]:
    """Secrets are referenced (existingSecret), never shipped: an install must not overwrite
    a real one, and a key in a public file protects nothing."""
    return [f"Secret/{name} is shipped" for name in by_kind(docs, "Secret")]


# Each Job the chart runs: the hooks it must be and the command it must run.
JOB_ROLES = {
    "bootstrap": ({"pre-install", "pre-upgrade"}, ["python", "-m", "tools.bootstrap"]),
    # Promotes the current build once its pools poll (docs/versioning.md).
    "promote": ({"post-install", "post-upgrade"}, ["python", "-m", "tools.deploy", "promote"]),
}


def bootstrap_is_a_hook_per_revision(docs: list[Doc]) -> list[str]:
    """The bootstrap Job before, the promotion Job after every install and upgrade; both
    hooks named per revision, deleted before they are created again, and kept a while."""
    problems = []
    jobs = by_kind(docs, "Job")
    roles = {
        job["metadata"]["labels"].get("app.kubernetes.io/component"): name
        for name, job in jobs.items()
    }
    problems += [f"no {role} Job" for role in JOB_ROLES if role not in roles]
    for name, job in jobs.items():
        role = job["metadata"]["labels"].get("app.kubernetes.io/component")
        if role not in JOB_ROLES:
            problems.append(f"Job/{name} is no hook the chart knows ({sorted(JOB_ROLES)})")
            continue
        wanted_hooks, command = JOB_ROLES[role]
        annotations = job["metadata"].get("annotations", {})
        hooks = set(annotations.get("helm.sh/hook", "").split(","))
        if not wanted_hooks <= hooks:
            problems.append(f"Job/{name} is not a {','.join(sorted(wanted_hooks))} hook")
        if "helm.sh/hook-delete-policy" not in annotations:
            problems.append(f"Job/{name} has no hook-delete-policy")
        if not re.search(r"-\d+$", name):
            problems.append(f"Job/{name} is not named per revision")
        if "ttlSecondsAfterFinished" not in job["spec"]:
            problems.append(f"Job/{name} has no ttlSecondsAfterFinished")
        (container,) = pod_spec(job)["containers"]
        if container.get("command", [])[: len(command)] != command:
            problems.append(f"Job/{name} does not run {' '.join(command[2:])}")
    return problems


def _scaled_targets(docs: list[Doc]) -> dict[str, int]:
    """Deployments an autoscaler owns, with the fewest replicas it keeps."""
    targets = {
        so["spec"]["scaleTargetRef"]["name"]: so["spec"].get("minReplicaCount", 0)
        for so in by_kind(docs, "ScaledObject").values()
    }
    for hpa in by_kind(docs, "HorizontalPodAutoscaler").values():
        targets[hpa["spec"]["scaleTargetRef"]["name"]] = hpa["spec"].get("minReplicas", 1)
    return targets


def scaled_deployments_leave_replicas_alone(docs: list[Doc]) -> list[str]:
    deployments = by_kind(docs, "Deployment")
    return [
        f"Deployment/{name} sets replicas, which every upgrade would reset under its autoscaler"
        for name in _scaled_targets(docs)
        if "replicas" in deployments[name]["spec"]
    ]


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    return bool(selector) and selector.get("matchLabels", {}).items() <= labels.items()


def disruption_budgets_allow_a_drain(docs: list[Doc]) -> list[str]:
    """Each PDB lets one pod go while the pool is at its smallest, and lets an unready pod
    always go (a pool unready for a reason outside it must not hold a drain)."""
    problems = []
    smallest = _scaled_targets(docs)
    deployments = by_kind(docs, "Deployment")
    for name, pdb in by_kind(docs, "PodDisruptionBudget").items():
        spec = pdb["spec"]
        targets = [
            d
            for d in deployments.values()
            if _selects(spec["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        for deployment in targets:
            dname = deployment["metadata"]["name"]
            replicas = smallest.get(dname, deployment["spec"].get("replicas", 1))
            if "minAvailable" in spec and int(spec["minAvailable"]) >= replicas:
                problems.append(f"PDB/{name}: minAvailable {spec['minAvailable']} of {replicas}")
            if "maxUnavailable" in spec and int(spec["maxUnavailable"]) < 1:
                problems.append(f"PDB/{name}: maxUnavailable {spec['maxUnavailable']}")
        if spec.get("unhealthyPodEvictionPolicy") != "AlwaysAllow":
            problems.append(f"PDB/{name}: an unready pod cannot be evicted")
    return problems


def worker_probes(docs: list[Doc]) -> list[str]:
    """Worker readiness asks no Temporal (/readyz; /pollers is the Temporal-side view) and
    liveness catches a stuck process; both on the probe port the settings name."""
    problems = []
    for where, _, container in containers(docs):
        if not module_of(container).startswith("workers."):
            continue
        port = literal_env(container).get("ORDERS_TELEMETRY__PROBE_PORT")
        ports = {p["name"]: str(p["containerPort"]) for p in container.get("ports", [])}
        expected = {"readinessProbe": "/readyz", "livenessProbe": "/livez"}
        for probe, path in expected.items():
            get = container.get(probe, {}).get("httpGet", {})
            if get.get("path") != path or ports.get(get.get("port")) != port:
                problems.append(f"{where}: {probe} is not {path} on the probe port ({get})")
    return problems


def every_deployment_has_startup_liveness_readiness(docs: list[Doc]) -> list[str]:
    return [
        f"{where}: no {probe}"
        for where, _, container in containers(docs)
        if where.startswith("Deployment/")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
        if probe not in container
    ]


def restricted_security_context(docs: list[Doc]) -> list[str]:
    """Pod Security "restricted", on every container: a numeric non-root user and group, no
    privilege escalation, no capability, RuntimeDefault seccomp, a read-only root with /tmp
    as an emptyDir."""
    problems = []
    for where, spec, container in containers(docs):
        pod = spec.get("securityContext", {})
        own = container.get("securityContext", {})
        merged = {**pod, **own}
        name = f"{where}/{container['name']}"
        for field in ("runAsUser", "runAsGroup"):
            value = merged.get(field)
            if not isinstance(value, int) or value < MIN_ID:
                problems.append(f"{name}: {field} {value!r} is not a numeric non-root id")
        expected = {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
        }
        for field, value in expected.items():
            if merged.get(field) is not value:
                problems.append(f"{name}: {field} is not {value}")
        if "ALL" not in own.get("capabilities", {}).get("drop", []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if merged.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile is not RuntimeDefault")
        tmp = _mount_of(spec, container, "/tmp/x")  # noqa: S108 - the path checked
        if tmp is None or "emptyDir" not in tmp:
            problems.append(f"{name}: /tmp is not an emptyDir")
    return problems


def _component(doc: Doc) -> str:
    labels: dict[str, str] = doc["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component", "")


def api_survives_rollouts(docs: list[Doc]) -> list[str]:
    """The API: an HPA, a PDB and a preStop."""
    problems = []
    (api,) = [d for d in by_kind(docs, "Deployment").values() if _component(d) == "api"]
    name = api["metadata"]["name"]
    labels = api["spec"]["template"]["metadata"]["labels"]
    (container,) = pod_spec(api)["containers"]
    if "preStop" not in container.get("lifecycle", {}):
        problems.append(f"{name}: no preStop")
    hpas = by_kind(docs, "HorizontalPodAutoscaler").values()
    if not any(h["spec"]["scaleTargetRef"]["name"] == name for h in hpas):
        problems.append(f"{name}: no HorizontalPodAutoscaler")
    pdbs = by_kind(docs, "PodDisruptionBudget").values()
    if not any(_selects(p["spec"]["selector"], labels) for p in pdbs):
        problems.append(f"{name}: no PodDisruptionBudget")
    return problems


def _service_of(docs: list[Doc], deployment: Doc) -> list[str]:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return [
        name
        for name, service in by_kind(docs, "Service").items()
        if service["spec"].get("selector", {}).items() <= labels.items()
    ]


def codec_off_the_public_edge(docs: list[Doc]) -> list[str]:
    """The codec is its own Deployment and Service, the API does not serve it, and no
    Ingress routes to it."""
    problems = []
    deployments = by_kind(docs, "Deployment").values()
    codecs = [d for d in deployments if module_of(pod_spec(d)["containers"][0]) == "api.codec"]
    if not codecs:
        return ["no codec Deployment (python -m api.codec)"]
    codec_services = {s for codec in codecs for s in _service_of(docs, codec)}
    if not codec_services:
        problems.append("the codec has no Service")
    for where, _, container in containers(docs):
        if (
            module_of(container) == "api"
            and literal_env(container).get("ORDERS_API__SERVE_CODEC") != "false"
        ):
            problems.append(f"{where}: the public API serves /codec (ORDERS_API__SERVE_CODEC)")
    for name, ingress in by_kind(docs, "Ingress").items():
        for rule in ingress["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path["backend"]["service"]["name"]
                if backend in codec_services:
                    problems.append(f"Ingress/{name} routes {path['path']} to the codec")
    return problems


def public_edge_and_network_policies(docs: list[Doc]) -> list[str]:
    """An Ingress routes Stripe's webhook (and the API) to the API's Service; ingress to every
    pod is denied unless a NetworkPolicy lets it in."""
    problems = []
    api_services = {
        s
        for d in by_kind(docs, "Deployment").values()
        if _component(d) == "api"
        for s in _service_of(docs, d)
    }
    routes = {
        path["path"]: path["backend"]["service"]["name"]
        for ingress in by_kind(docs, "Ingress").values()
        for rule in ingress["spec"].get("rules", [])
        for path in rule.get("http", {}).get("paths", [])
    }
    if routes.get("/webhooks/stripe") not in api_services:
        problems.append("no Ingress routes POST /webhooks/stripe to the API")
    policies = [
        p for p in by_kind(docs, "NetworkPolicy").values() if "Ingress" in p["spec"]["policyTypes"]
    ]
    if not any(not p["spec"].get("ingress") for p in policies):
        problems.append("no default-deny ingress NetworkPolicy")
    for doc in docs:
        if doc["kind"] in WORKLOADS - {"Job"}:
            labels = doc["spec"]["template"]["metadata"]["labels"]
            if not any(_selects(p["spec"]["podSelector"], labels) for p in policies):
                problems.append(f"{doc['kind']}/{doc['metadata']['name']}: no NetworkPolicy")
    return problems


@cache
def temporal_scaler_parameters() -> dict[str, frozenset[str]]:
    """KEDA v2.21.0's temporal scaler parameters, from its source: the trigger metadata keys
    and the authentication parameters (struct tags ``keda:"name=…, order=…"``)."""
    try:
        module = go_servers.module_dir("keda")
    except ServiceUnavailableError as exc:
        service_unavailable(f"KEDA's source comes from its Go module: {exc}")
    source = (module / "pkg" / "scalers" / "temporal_scaler.go").read_text()
    tags = re.findall(r'keda:"name=(\w+),\s*order=([\w;]+)', source)
    return {
        "triggerMetadata": frozenset(n for n, order in tags if "triggerMetadata" in order),
        "authParams": frozenset(n for n, order in tags if "authParams" in order),
    }


def keda_triggers(docs: list[Doc]) -> list[str]:
    """Every trigger key is one KEDA 2.21's temporal scaler reads (trigger metadata is a
    free-form map, so the CRD schema passes anything); tlsServerName wherever the scaler
    dials mTLS; no enableTLS (ignored beside a client certificate; its default, true, is the
    only safe value with an API key)."""
    known = temporal_scaler_parameters()
    auths = by_kind(docs, "TriggerAuthentication")
    problems = []
    for auth_name, auth in auths.items():
        params = {ref["parameter"] for ref in auth["spec"].get("secretTargetRef", [])}
        if unknown := params - known["authParams"]:
            problems.append(f"TriggerAuthentication/{auth_name}: unknown {sorted(unknown)}")
    for name, scaled in by_kind(docs, "ScaledObject").items():
        for trigger in scaled["spec"]["triggers"]:
            metadata = trigger["metadata"]
            if unknown := set(metadata) - known["triggerMetadata"]:
                problems.append(f"ScaledObject/{name}: not a KEDA 2.21 parameter {sorted(unknown)}")
            if "enableTLS" in metadata:
                problems.append(f"ScaledObject/{name}: sets enableTLS")
            auth = auths.get(trigger.get("authenticationRef", {}).get("name", ""), {})
            refs = {r["parameter"] for r in auth.get("spec", {}).get("secretTargetRef", [])}
            if "cert" in refs and not metadata.get("tlsServerName"):
                problems.append(f"ScaledObject/{name}: mTLS without tlsServerName")
    return problems


def production_environment(docs: list[Doc], *, demo: bool) -> list[str]:
    """ORDERS_ENVIRONMENT=production in every process; the demo allowance only in a demo."""
    problems = []
    for where, _, container in containers(docs):
        env = literal_env(container)
        if env.get("ORDERS_ENVIRONMENT") != "production":
            problems.append(f"{where}: ORDERS_ENVIRONMENT is {env.get('ORDERS_ENVIRONMENT')!r}")
        if ("ORDERS_DEMO_ALLOWANCE" in env) != demo:
            problems.append(f"{where}: ORDERS_DEMO_ALLOWANCE {'missing' if demo else 'set'}")
    return problems


CHECKS = {
    "temporal-tls": temporal_tls_on_both_sides,
    "images": images_pullable,
    "secrets": no_secret_values,
    "bootstrap": bootstrap_is_a_hook_per_revision,
    "replicas": scaled_deployments_leave_replicas_alone,
    "drains": disruption_budgets_allow_a_drain,
    "worker-probes": worker_probes,
    "probes": every_deployment_has_startup_liveness_readiness,
    "security-context": restricted_security_context,
    "api": api_survives_rollouts,
    "codec": codec_off_the_public_edge,
    "edge": public_edge_and_network_policies,
    "keda": keda_triggers,
}
