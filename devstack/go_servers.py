"""Real servers that are Go programs, built once from the Go module proxy into a cache folder.

The Temporal server and its schema tool, the Temporal Web UI server, stripe-mock, Jaeger,
oasdiff and Toxiproxy are published as Go modules, not as packages this machine can install. Each is
built with the machine's Go toolchain (asking the proxy for a newer one where the module
needs it) into ``~/.cache/order-saga/go/<name>-<version>/`` (``$ORDERS_GO_CACHE`` moves
it), with a marker file that says the build finished, so the next call only checks a file.

Command line (``.ci/run`` uses it to build everything up front and print the minutes)::

    python -m devstack.go_servers build [NAME ...]   # all but on-demand ones when none is named
    python -m devstack.go_servers path NAME          # the binary, built if missing
    python -m devstack.go_servers module-dir NAME    # the module's source (schemas, CRDs)
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from devstack.cache import cache_dir
from devstack.process import ServiceUnavailableError

CACHE_ENV = "ORDERS_GO_CACHE"
MARKER_NAME = ".complete"
BUILD_TIMEOUT = 40 * 60.0
# The machine's Go is older than some modules require; the proxy serves this toolchain.
TOOLCHAIN = "go1.27.3"


@dataclass(frozen=True)
class GoServer:
    name: str
    module: str
    version: str
    package: str
    # Some modules' own go.mod carries replace directives (or pins versions the proxy no
    # longer serves), which `go install module@version` refuses: those are built inside a
    # writable copy of the module, after these `go mod edit -replace` arguments.
    build_in_copy: bool = False
    replaces: tuple[str, ...] = ()
    # Built only when named (``make upgrade-drill``), not by a bare ``build`` in .ci/run:
    # nothing in ``make test`` runs it and it costs about 9 minutes.
    on_demand: bool = False

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


SERVERS: dict[str, GoServer] = {
    server.name: server
    for server in (
        GoServer("temporal-server", "go.temporal.io/server", "v1.32.2", "cmd/server"),
        GoServer("temporal-sql-tool", "go.temporal.io/server", "v1.32.2", "cmd/tools/sql"),
        # The previous minor release, which the upgrade drill starts on and then replaces
        # (docs/upgrade.md): the newest 1.31 patch the proxy serves. Its go.mod names a
        # version of auto-scaled-workers the proxy does not serve; v1.31.2's is served.
        *(
            GoServer(
                name,
                "go.temporal.io/server",
                "v1.31.5",
                package,
                build_in_copy=True,
                replaces=(
                    "go.temporal.io/auto-scaled-workers@v0.0.1-1.31.2="
                    "go.temporal.io/auto-scaled-workers@v0.0.0-20260407181057-edd947d743d2",
                ),
                on_demand=True,
            )
            for name, package in (
                ("temporal-server-previous", "cmd/server"),
                ("temporal-sql-tool-previous", "cmd/tools/sql"),
            )
        ),
        GoServer(
            "temporal-ui-server",
            "github.com/temporalio/ui-server/v2",
            "v2.58.1",
            "cmd/server",
            build_in_copy=True,
            # Two exact versions its go.mod names are not served; their neighbours are.
            replaces=(
                "go.temporal.io/api@v1.64.0=go.temporal.io/api@v1.64.1",
                "github.com/labstack/echo/v4@v4.16.1=github.com/labstack/echo/v4@v4.16.0",
            ),
        ),
        GoServer("stripe-mock", "github.com/stripe/stripe-mock", "v0.203.0", "."),
        GoServer(
            "jaeger", "github.com/jaegertracing/jaeger", "v1.76.0", "cmd/jaeger", build_in_copy=True
        ),
        GoServer("oasdiff", "github.com/oasdiff/oasdiff", "v1.38.0", "."),
        # The tools a platform team runs on a Helm chart (tests/deploy).
        GoServer("helm", "helm.sh/helm/v4", "v4.3.2", "cmd/helm"),
        GoServer("kubeconform", "github.com/yannh/kubeconform", "v0.8.0", "cmd/kubeconform"),
        GoServer("kube-score", "github.com/zegl/kube-score", "v1.20.0", "cmd/kube-score"),
        # Slow links for the fault matrix (faults/toxiproxy.py): this kernel has no tc netem.
        GoServer("toxiproxy", "github.com/Shopify/toxiproxy/v2", "v2.5.0", "cmd/server"),
    )
}

# Modules we read but do not build (schemas, CRDs), by a short name.
SOURCE_MODULES: dict[str, tuple[str, str]] = {
    "keda": ("github.com/kedacore/keda/v2", "v2.21.0"),  # config/crd/bases: KEDA's CRDs
}

# Debian 12's golang-go (1.19) is too old to fetch the toolchain the modules ask for.
_HOW_TO_GET = "Go >= 1.21 is needed to build it (it then fetches the toolchain it needs)"


def cache_root() -> Path:
    return cache_dir(CACHE_ENV, "go")


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise ServiceUnavailableError(f"`go` not found; {_HOW_TO_GET}")
    return go


def _env() -> dict[str, str]:
    # GOFLAGS=-mod=mod: a module's vendor folder or stale go.sum must not stop the build.
    return {**os.environ, "GOTOOLCHAIN": TOOLCHAIN, "GOFLAGS": "-mod=mod"}


def _run(args: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(
            args,
            cwd=cwd,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServiceUnavailableError(f"`{' '.join(args)}` did not finish in time") from exc
    if done.returncode != 0:
        raise ServiceUnavailableError(
            f"`{' '.join(args)}` failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )
    return done.stdout


def module_dir(name: str) -> Path:
    """The module's source in Go's module cache (read-only): schemas, configs, CRDs.

    ``name`` is a server of SERVERS or a module of SOURCE_MODULES."""
    if name in SOURCE_MODULES:
        return download_module(*SOURCE_MODULES[name])
    server = SERVERS[name]
    return download_module(server.module, server.version)


def download_module(module: str, version: str) -> Path:
    """Any module's source, downloaded once into Go's module cache."""
    out = _run([_go(), "mod", "download", "-json", f"{module}@{version}"])
    return Path(json.loads(out)["Dir"])


def _install_dir(server: GoServer) -> Path:
    return cache_root() / server.key


def _built(server: GoServer) -> Path | None:
    folder = _install_dir(server)
    binary = folder / server.name
    if (folder / MARKER_NAME).exists() and binary.is_file():
        return binary
    return None


def binary(name: str, *, build: bool = True) -> Path:
    """The server's executable, built first when it is not in the cache yet."""
    server = SERVERS[name]
    found = _built(server)
    if found is not None:
        return found
    if not build:
        raise ServiceUnavailableError(
            f"{name} {server.version} is not built; run `python -m devstack.go_servers build "
            f"{name}` (a few minutes, once)"
        )
    folder = _install_dir(server)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f".{server.key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _built(server)  # another process may have finished it meanwhile
        if found is not None:
            return found
        _build(server, folder)
    return folder / server.name


def _build(server: GoServer, folder: Path) -> None:
    go = _go()
    started = time.monotonic()
    print(f"building {server.name} {server.version} from {server.module} …", flush=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{server.key}-", dir=folder.parent))
    try:
        target = staging / server.name
        if server.build_in_copy:
            source = staging / "src"
            shutil.copytree(module_dir(server.name), source)
            for path in source.rglob("*"):
                path.chmod(path.stat().st_mode | 0o200)
            source.chmod(source.stat().st_mode | 0o200)
            for replace in server.replaces:
                _run([go, "mod", "edit", "-replace", replace], cwd=source)
            _run([go, "build", "-o", str(target), f"./{server.package}"], cwd=source)
            shutil.rmtree(source)
        else:
            package = server.module
            if server.package != ".":
                package += f"/{server.package}"
            with tempfile.TemporaryDirectory() as gobin:
                done = subprocess.run(
                    [go, "install", f"{package}@{server.version}"],
                    env={**_env(), "GOBIN": gobin},
                    capture_output=True,
                    text=True,
                    timeout=BUILD_TIMEOUT,
                    check=False,
                )
                if done.returncode != 0:
                    raise ServiceUnavailableError(
                        f"go install {package}@{server.version} failed:\n{done.stderr[-3000:]}"
                    )
                (built,) = Path(gobin).iterdir()
                shutil.move(str(built), target)
        (staging / MARKER_NAME).write_text(f"{server.module}@{server.version}\n")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    minutes = (time.monotonic() - started) / 60
    print(f"built {server.name} {server.version} in {minutes:.1f} min", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build these servers (all when none is named)")
    build.add_argument("names", nargs="*", metavar="NAME", help=", ".join(SERVERS))
    path = sub.add_parser("path", help="print a server's binary, building it if missing")
    path.add_argument("name", choices=list(SERVERS))
    source = sub.add_parser("module-dir", help="print the folder of a server's module source")
    source.add_argument("name", choices=[*SERVERS, *SOURCE_MODULES])
    args = parser.parse_args()
    unknown = [name for name in getattr(args, "names", []) if name not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(SERVERS)}")
    try:
        if args.command == "build":
            default = [name for name, server in SERVERS.items() if not server.on_demand]
            for name in args.names or default:
                started = time.monotonic()
                found = binary(name)
                print(f"{name}: {found} ({time.monotonic() - started:.0f} s)", flush=True)
        elif args.command == "path":
            print(binary(args.name))
        else:
            print(module_dir(args.name))
    except ServiceUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
