"""Run the service's image as the chart runs its pods, with ``podman run``.

Every container gets what the chart's securityContext asks for: a read-only root
filesystem with ``/tmp`` as a tmpfs (the chart's emptyDir), the numeric user 10001, no
capabilities and no privilege escalation. Containers share the machine's network
(``--network host``), so they reach the services the tests start on loopback.

Settings go in as environment variables by name (``--env NAME``, the value taken from
podman's own environment), so secrets never appear on a command line; files (TLS
certificates) are mounted read-only, as Secrets are in Kubernetes.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack.image import podman, podman_env

USER = "10001:10001"
# Every container started here carries the pid of the process that started it, so one left
# behind by a killed run (still holding its ports on the host network) can be found.
OWNER_LABEL = "order-saga.owner-pid"


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    command: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    # host path -> path in the container, mounted read-only
    mounts: Mapping[Path, str] = field(default_factory=dict)
    # writable paths (tmpfs): /tmp, and whatever else the process writes; a path may carry
    # tmpfs options after a comma ("/tmp,size=64m")
    tmpfs: Sequence[str] = ("/tmp",)
    # host folder -> path in the container, writable and owned by the container's user (a
    # volume that outlives the container: the simulated provider's ledger)
    volumes: Mapping[Path, str] = field(default_factory=dict)
    # the numeric user and group, as uid:gid
    user: str = USER
    read_only: bool = True
    # host name -> address, written into the container's /etc/hosts (a Service's name)
    hosts: Mapping[str, str] = field(default_factory=dict)

    def run_args(self) -> list[str]:
        args = ["--read-only"] if self.read_only else []
        args += ["--user", self.user, "--network", "host"]
        args += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        for entry in self.tmpfs:
            path, _, options = entry.partition(",")
            # Owned by the container's user (U), as an emptyDir is with the pod's fsGroup:
            # a tmpfs is root's otherwise (Podman 4.3 ignores mode= on a folder the image
            # already has), and the process could not write to it.
            args += ["--tmpfs", ",".join([f"{path}:rw,U", *filter(None, [options])])]
        for source, target in self.mounts.items():
            args += ["--volume", f"{source}:{target}:ro"]
        for source, target in self.volumes.items():
            args += ["--volume", f"{source}:{target}:rw,U"]
        for host, address in self.hosts.items():
            args += ["--add-host", f"{host}:{address}"]
        for name in self.env:
            args += ["--env", name]
        return [*args, self.image, *self.command]

    def process_env(self) -> dict[str, str]:
        return {**podman_env(), **self.env}


def run_once(spec: ContainerSpec, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """Run a container to its end (a Job: the bootstrap); its exit code and output."""
    return subprocess.run(
        ["podman", "run", "--rm", *spec.run_args()],
        env=spec.process_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Container:
    """A container started in the background (a Deployment's pod); ``stop()`` removes it."""

    name: str

    def running(self) -> bool:
        state = podman("inspect", "--format", "{{.State.Running}}", self.name).strip()
        return state == "true"

    def logs(self) -> str:
        done = subprocess.run(
            ["podman", "logs", self.name],
            env=podman_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return done.stdout + done.stderr

    def inspect(self, template: str) -> str:
        return podman("inspect", "--format", template, self.name).strip()

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", "exec", self.name, *command],
            env=podman_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def wait(self, timeout: float) -> int:
        """The exit code once the container has ended."""
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() > deadline:
                raise TimeoutError(f"container {self.name} still running after {timeout}s")
            time.sleep(0.5)
        return int(self.inspect("{{.State.ExitCode}}"))

    def stop(self, grace_seconds: int = 10) -> None:
        subprocess.run(
            ["podman", "rm", "--force", "--time", str(grace_seconds), self.name],
            env=podman_env(),
            capture_output=True,
            timeout=grace_seconds + 60,
            check=False,
        )


def remove_orphans() -> list[str]:
    """Remove the containers whose starting process is gone (a killed test run); their
    names."""
    listed = podman(
        "ps",
        "--all",
        "--filter",
        f"label={OWNER_LABEL}",
        "--format",
        f'{{{{.Names}}}} {{{{index .Labels "{OWNER_LABEL}"}}}}',
    )
    orphans = []
    for line in listed.splitlines():
        name, _, pid = line.partition(" ")
        if pid.isdigit() and not _alive(int(pid)):
            Container(name).stop(grace_seconds=0)
            orphans.append(name)
    return orphans


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start(spec: ContainerSpec, name: str) -> Container:
    """Start a container in the background under ``name`` (one left by a killed run goes)."""
    Container(name).stop(grace_seconds=0)
    label = f"{OWNER_LABEL}={os.getpid()}"
    subprocess.run(
        ["podman", "run", "--detach", "--name", name, "--label", label, *spec.run_args()],
        env=spec.process_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return Container(name)
