"""A rendered pod's container as ``podman run`` runs it (``devstack.containers.ContainerSpec``).

Podman 4.3's ``kube play`` fails on Secrets here, so the chart's pods are translated: the
command, the environment (literal values, Secrets' keys from test Secrets, the pod's own
fields), the volumes (a Secret's keys as read-only files, an emptyDir as a tmpfs, a claim
as a fresh writable folder), the securityContext (numeric user, read-only root) and the
probes, resolved to the ports the processes listen on. What the translator does not know
fails loudly: dropping a volume or a variable would test something the chart does not ship.

Every pod shares the host's network here (the services the tests start are on loopback),
where a cluster gives each pod an address of its own: the chart's fixed ports (metrics,
probes, the API's) would collide, so each container's declared ports move to free ones
(``host_ports``), and the settings and arguments that name them follow.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.containers import ContainerSpec

__all__ = ["Pod", "Probe", "TranslationError", "pod_spec", "translate"]

# The settings that carry a listening port, and how: the port alone or host:port. Only
# these are rewritten when a port moves; a value that merely equals a port number elsewhere
# (a replication factor, a timeout) is never touched.
PORT_SETTINGS = {
    "ORDERS_API__PORT",
    "ORDERS_API__CODEC_PORT",
    "ORDERS_TELEMETRY__METRICS_PORT",
    "ORDERS_TELEMETRY__PROBE_PORT",
    "ORDERS_TEMPORAL__METRICS_BIND_ADDRESS",
}
_PORT_ARG = re.compile(r"^(--port=)(\d+)$")
_SIZE = re.compile(r"^(\d+)(Ki|Mi|Gi)?$")


class TranslationError(ValueError):
    """The rendered container holds something this translator would have to drop."""


@dataclass(frozen=True)
class Probe:
    """A kubelet probe, resolved to this machine: ``path`` None is a TCP probe."""

    port: int
    path: str | None
    period_seconds: float
    failure_threshold: int


@dataclass(frozen=True)
class Pod:
    name: str
    spec: ContainerSpec
    # probe kind (startupProbe, readinessProbe, livenessProbe) -> the probe
    probes: dict[str, Probe] = field(default_factory=dict)
    # the container's named ports -> where they listen on this machine
    ports: dict[str, int] = field(default_factory=dict)


def pod_spec(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The pod template's spec of the rendered ``kind`` named ``name``."""
    for doc in documents:
        if doc.get("kind") == kind and doc["metadata"]["name"] == name:
            spec: dict[str, Any] = doc["spec"]["template"]["spec"]
            return spec
    found = sorted(f"{d.get('kind')}/{d['metadata']['name']}" for d in documents)
    raise TranslationError(f"no {kind} named {name} in the render: {found}")


def translate(
    pod_name: str,
    spec: dict[str, Any],
    container_name: str,
    *,
    secrets: Mapping[str, Mapping[str, str]],
    workdir: Path,
    host_ports: Mapping[int, int] | None = None,
    hosts: Mapping[str, str] | None = None,
    namespace: str = "default",
) -> Pod:
    """``container_name`` of the pod ``spec`` (a Deployment's or Job's template) as a
    ContainerSpec. ``secrets`` are the cluster's Secrets {name: {key: value}}; ``workdir``
    receives the Secret volumes' files and the claims' folders; ``host_ports`` moves each
    declared container port to the port it gets on the host (every declared port must be
    listed); ``hosts`` are names (the Services') for the containers' /etc/hosts."""
    container = _container(spec, container_name)
    where = f"{pod_name}/{container_name}"
    moved = _moves(container, host_ports or {}, where)
    command = _command(container, moved, where)
    env = _env(container, secrets, moved, pod_name, namespace, where)
    user, read_only = _security(spec, container, where)
    mounts, volumes, tmpfs = _volumes(spec, container, secrets, workdir / pod_name, where)
    named = {
        p["name"]: moved[p["containerPort"]] for p in container.get("ports", []) if "name" in p
    }
    probes: dict[str, Probe] = {
        kind: _probe(container[kind], named, moved, where)
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
        if kind in container
    }
    image = container["image"]
    run = ContainerSpec(
        image,
        command,
        env=env,
        mounts=mounts,
        tmpfs=tmpfs,
        volumes=volumes,
        user=user,
        read_only=read_only,
        hosts=dict(hosts or {}),
    )
    return Pod(pod_name, run, probes, named)


def _probe(
    probe: dict[str, Any], named: Mapping[str, int], moved: Mapping[int, int], where: str
) -> Probe:
    kinds = set(probe) & {"httpGet", "tcpSocket", "exec", "grpc"}
    if kinds == {"httpGet"}:
        action = probe["httpGet"]
        if set(action) - {"path", "port"}:
            raise TranslationError(f"{where}: httpGet fields not translated: {action}")
        path: str | None = action.get("path", "/")
    elif kinds == {"tcpSocket"}:
        action = probe["tcpSocket"]
        path = None
    else:
        raise TranslationError(f"{where}: probe not translated: {sorted(kinds)}")
    port = action["port"]
    host_port = named.get(port) if isinstance(port, str) else moved.get(port)
    if host_port is None:
        raise TranslationError(f"{where}: probe port {port} is not a declared port")
    return Probe(
        host_port,
        path,
        float(probe.get("periodSeconds", 10)),
        int(probe.get("failureThreshold", 3)),
    )


def _container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    understood = {
        "containers",
        "volumes",
        "securityContext",
        "automountServiceAccountToken",
        "affinity",
        "terminationGracePeriodSeconds",
        "restartPolicy",
        "imagePullSecrets",
        "nodeSelector",
        "tolerations",
    }
    unknown = set(spec) - understood
    if unknown:
        raise TranslationError(f"pod fields not translated: {sorted(unknown)}")
    for container in spec["containers"]:
        if container["name"] == name:
            result: dict[str, Any] = container
            return result
    raise TranslationError(f"no container {name}: {[c['name'] for c in spec['containers']]}")


def _moves(container: dict[str, Any], host_ports: Mapping[int, int], where: str) -> dict[int, int]:
    declared = [p["containerPort"] for p in container.get("ports", [])]
    missing = [port for port in declared if port not in host_ports]
    if missing:
        # On the host network an unmoved port would collide with another pod's.
        raise TranslationError(f"{where}: no host port for container ports {missing}")
    return {port: host_ports[port] for port in declared}


def _command(container: dict[str, Any], moved: Mapping[int, int], where: str) -> list[str]:
    if "command" not in container:
        raise TranslationError(f"{where}: no command (the chart names every process's command)")
    words = [*container["command"], *container.get("args", [])]
    if any("$(" in word for word in words):
        raise TranslationError(f"{where}: $(VAR) expansion in the command is not translated")

    def move(word: str) -> str:
        found = _PORT_ARG.match(word)
        if found and int(found[2]) in moved:
            return f"{found[1]}{moved[int(found[2])]}"
        return word

    return [move(word) for word in words]


def _env(  # noqa: PLR0917  # private; every argument is what one variable may need
    container: dict[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    moved: Mapping[int, int],
    pod_name: str,
    namespace: str,
    where: str,
) -> dict[str, str]:
    env: dict[str, str] = {}
    # As the kubelet builds it: envFrom first, then env (a later entry of a name wins).
    for source in container.get("envFrom", []):
        if set(source) - {"secretRef", "prefix"}:
            raise TranslationError(f"{where}: envFrom source not translated: {source}")
        ref = source["secretRef"]
        secret = _secret(secrets, ref["name"], ref.get("optional", False), where)
        env.update({f"{source.get('prefix', '')}{k}": v for k, v in secret.items()})
    for entry in container.get("env", []):
        name = entry["name"]
        if "value" in entry:
            value = str(entry["value"])
            if "$(" in value:
                raise TranslationError(f"{where}: $(VAR) expansion in {name} is not translated")
            env[name] = value
        elif "valueFrom" in entry:
            resolved = _value_from(entry["valueFrom"], secrets, pod_name, namespace, where)
            if resolved is not None:
                env[name] = resolved
        else:
            env[name] = ""
    for name in PORT_SETTINGS & set(env):
        env[name] = _move_port(env[name], moved)
    return env


def _move_port(value: str, moved: Mapping[int, int]) -> str:
    host, colon, port = value.rpartition(":")
    if port.isdigit() and int(port) in moved:
        return f"{host}{colon}{moved[int(port)]}"
    return value


def _secret(
    secrets: Mapping[str, Mapping[str, str]], name: str, optional: bool, where: str
) -> Mapping[str, str]:
    if name in secrets:
        return secrets[name]
    if optional:
        return {}
    # The kubelet would not start the pod: a test that went on would prove nothing.
    raise TranslationError(f"{where}: Secret {name} is not among the test's {sorted(secrets)}")


def _value_from(
    source: dict[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    pod_name: str,
    namespace: str,
    where: str,
) -> str | None:
    if set(source) == {"secretKeyRef"}:
        ref = source["secretKeyRef"]
        optional = bool(ref.get("optional", False))
        secret = _secret(secrets, ref["name"], optional, where)
        if ref["key"] in secret:
            return secret[ref["key"]]
        if optional:
            return None
        raise TranslationError(f"{where}: Secret {ref['name']} has no key {ref['key']}")
    if set(source) == {"fieldRef"}:
        path = source["fieldRef"]["fieldPath"]
        fields = {
            "metadata.name": pod_name,
            "metadata.namespace": namespace,
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
            "spec.nodeName": socket.gethostname(),
        }
        if path in fields:
            return fields[path]
        raise TranslationError(f"{where}: fieldRef {path} is not translated")
    raise TranslationError(f"{where}: env source not translated: {source}")


def _security(spec: dict[str, Any], container: dict[str, Any], where: str) -> tuple[str, bool]:
    """The container's user and read-only root; a container without a numeric user and a
    read-only root is refused (the chart's regression, which the image test must catch)."""
    context = {**spec.get("securityContext", {}), **container.get("securityContext", {})}
    user, group = context.get("runAsUser"), context.get("runAsGroup")
    if not isinstance(user, int) or not isinstance(group, int) or user == 0:
        raise TranslationError(f"{where}: no numeric non-root runAsUser/runAsGroup: {context}")
    if context.get("readOnlyRootFilesystem") is not True:
        raise TranslationError(f"{where}: readOnlyRootFilesystem is not true")
    # Podman always runs these containers without capabilities and escalation; a chart
    # that asked for more would run with less here, unnoticed: refuse it.
    if context.get("allowPrivilegeEscalation") is not False:
        raise TranslationError(f"{where}: allowPrivilegeEscalation is not false")
    if context.get("capabilities", {}).get("add") or "ALL" not in context.get(
        "capabilities", {}
    ).get("drop", []):
        raise TranslationError(f"{where}: capabilities are not exactly drop ALL")
    return f"{user}:{group}", True


def _volumes(
    spec: dict[str, Any],
    container: dict[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    folder: Path,
    where: str,
) -> tuple[dict[Path, str], dict[Path, str], list[str]]:
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    group = spec.get("securityContext", {}).get("fsGroup")
    mounts: dict[Path, str] = {}
    writable: dict[Path, str] = {}
    tmpfs: list[str] = []
    for mount in container.get("volumeMounts", []):
        if set(mount) - {"name", "mountPath", "readOnly"}:
            raise TranslationError(f"{where}: volumeMount fields not translated: {mount}")
        volume = volumes.get(mount["name"])
        if volume is None:
            raise TranslationError(f"{where}: mount of an undeclared volume {mount['name']}")
        kind = set(volume) - {"name"}
        target = mount["mountPath"]
        if kind == {"emptyDir"}:
            tmpfs.append(target + _tmpfs_size(volume["emptyDir"], where))
        elif kind == {"secret"}:
            files = _secret_files(volume["secret"], secrets, folder / volume["name"], group, where)
            mounts[files] = target
        elif kind == {"persistentVolumeClaim"}:
            # A fresh volume bound to the claim, for this run: writable by the pod's user.
            claim = folder / volume["name"]
            claim.mkdir(parents=True, exist_ok=True)
            writable[claim] = target
        else:
            raise TranslationError(f"{where}: volume {volume['name']} not translated: {kind}")
        if kind != {"secret"} and mount.get("readOnly"):
            raise TranslationError(f"{where}: read-only {sorted(kind)} not translated")
    return mounts, writable, tmpfs


def _tmpfs_size(empty_dir: dict[str, Any], where: str) -> str:
    if set(empty_dir) - {"sizeLimit", "medium"}:
        raise TranslationError(f"{where}: emptyDir fields not translated: {empty_dir}")
    limit = empty_dir.get("sizeLimit")
    if limit is None:
        return ""
    found = _SIZE.match(str(limit))
    if found is None:
        raise TranslationError(f"{where}: emptyDir sizeLimit {limit} not translated")
    unit = {"Ki": "k", "Mi": "m", "Gi": "g", None: ""}[found[2]]
    return f",size={found[1]}{unit}"


def _secret_files(
    volume: dict[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    folder: Path,
    group: int | None,
    where: str,
) -> Path:
    """The Secret's keys as files, owned by the pod's fsGroup with the volume's mode, as
    the kubelet writes them."""
    if set(volume) - {"secretName", "defaultMode", "optional"}:
        raise TranslationError(f"{where}: secret volume fields not translated: {volume}")
    mode = int(volume.get("defaultMode", 0o644))
    secret = _secret(secrets, volume["secretName"], volume.get("optional", False), where)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    for key, value in secret.items():
        path = folder / key
        path.write_text(value)
        if not _owned_by_group(path, group):
            # Not root here, or no fsGroup: the group cannot be the pod's, so the file is
            # readable by everyone, as a throwaway test Secret may be.
            mode |= 0o004
        path.chmod(mode)
    return folder


def _owned_by_group(path: Path, group: int | None) -> bool:
    if group is None:
        return False
    try:
        os.chown(path, -1, group)
    except PermissionError:
        return False
    return True
