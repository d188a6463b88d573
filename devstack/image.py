"""The service's image, built with Podman here, where no image registry is reachable.

Two steps, each cached:

- **the base**: Python 3.11 from Debian's packages (``mmdebstrap`` into a tarball, then
  ``podman import`` as ``localhost/debian-python:3.11``), standing in for
  ``python:3.11-slim``. The tarball is kept in ``~/.cache/order-saga/image/``
  (``$ORDERS_IMAGE_CACHE`` moves it) with a marker saying it finished, like the Go-built
  servers; the import is redone only when the image is gone from Podman's store.
- **the image**: ``podman build`` of the Dockerfile on that base, tagged
  ``order-saga:<hash of what goes into it>`` (never ``:latest``): an unchanged tree is not
  rebuilt, and a changed one gets a new tag. Podman's layer cache makes a rebuild after a
  code change take seconds (the dependencies' layer is reused).

Podman runs with the project's ``devstack/containers.conf`` (``CONTAINERS_CONF``).

Command line (``.ci/run`` builds it as a phase of its own)::

    python -m devstack.image build   # the base if missing, then the image; prints the tag
    python -m devstack.image tag     # the tag the current tree builds to
"""

from __future__ import annotations

import argparse
import fcntl
import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from devstack.cache import cache_dir
from devstack.process import ServiceUnavailableError

ROOT = Path(__file__).resolve().parents[1]
CONTAINERS_CONF = Path(__file__).resolve().parent / "containers.conf"
CACHE_ENV = "ORDERS_IMAGE_CACHE"
IMAGE_NAME = "order-saga"
BASE_IMAGE = "localhost/debian-python:3.11"
BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
MARKER_NAME = ".complete"
BUILD_TIMEOUT = 30 * 60.0
# Besides what the Dockerfile's build stage copies (read from it), these decide the image.
BUILD_FILES = ("Dockerfile", ".dockerignore", "pyproject.toml", "uv.lock")
_HOW_TO_GET = "install Debian's podman, runc, catatonit and mmdebstrap (.ci/run does)"


def cache_root() -> Path:
    return cache_dir(CACHE_ENV, "image")


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, timeout: float = 120.0) -> str:
    """Run ``podman ARGS`` with the project's configuration; its stdout, or an error."""
    program = shutil.which("podman")
    if program is None:
        raise ServiceUnavailableError(f"`podman` not found; {_HOW_TO_GET}")
    done = subprocess.run(
        [program, *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise ServiceUnavailableError(
            f"`podman {' '.join(args)}` failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )
    return done.stdout


def image_exists(reference: str) -> bool:
    try:
        podman("image", "exists", reference)
    except ServiceUnavailableError:
        return False
    return True


def uv_version() -> str:
    """The uv the Makefile pins, so the image resolves with the same uv as ``make install``."""
    found = re.search(r"^UV_VERSION\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    if found is None:
        raise RuntimeError("Makefile: no UV_VERSION")
    return found.group(1)


def copied_sources() -> list[str]:
    """What the Dockerfile's build stage copies into the image (besides the lock files)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    build_stage = text.split(" AS runtime")[0]
    sources: list[str] = []
    for line in build_stage.splitlines():
        words = line.split()
        if words[:1] != ["COPY"] or any(word.startswith("--") for word in words):
            continue
        sources += [word for word in words[1:-1] if word not in BUILD_FILES]
    return sources


def ignored_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip().strip("/") for line in lines if line.strip() and line[0] != "#"]


def _ignored(relative: Path, patterns: list[str]) -> bool:
    """As the build reads .dockerignore: a pattern names a path from the context's root
    (``*`` stays within one folder; ``**/`` at the start matches at any depth), and a
    folder it names takes everything inside."""
    parts = relative.parts
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts):
                return True
            continue
        depth = pattern.count("/") + 1
        if len(parts) >= depth and fnmatch.fnmatchcase("/".join(parts[:depth]), pattern):
            return True
    return False


def image_files() -> list[Path]:
    """Every file the build stage copies, relative to the root: the Dockerfile's COPY
    sources (folders whole, patterns expanded) less what .dockerignore leaves out."""
    patterns = ignored_patterns()
    found: set[Path] = set()
    for source in copied_sources():
        for match in sorted(ROOT.glob(source)):
            files = sorted(match.rglob("*")) if match.is_dir() else [match]
            found |= {file.relative_to(ROOT) for file in files if file.is_file()}
    return sorted(file for file in found if not _ignored(file, patterns))


def image_tag() -> str:
    """``order-saga:<12 hex>``: a hash of every file that goes into the image."""
    digest = hashlib.sha256(f"base={BASE_IMAGE} uv={uv_version()}\n".encode())
    for file in (*map(Path, BUILD_FILES), *image_files()):
        digest.update(f"{file}\0".encode())
        digest.update((ROOT / file).read_bytes())
    return f"{IMAGE_NAME}:{digest.hexdigest()[:12]}"


def _base_key() -> str:
    wanted = f"{BASE_SUITE} {','.join(BASE_PACKAGES)}"
    return f"debian-python-{hashlib.sha256(wanted.encode()).hexdigest()[:12]}"


def build_base() -> str:
    """The base image, from Debian's packages; cached as a tarball and in Podman's store."""
    folder = cache_root() / _base_key()
    tarball = folder / "base.tar"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f".{_base_key()}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / MARKER_NAME).exists():
            _bootstrap_base(folder, tarball)
        if not image_exists(BASE_IMAGE):
            _timed(f"import {BASE_IMAGE}", lambda: podman("import", str(tarball), BASE_IMAGE))
    return BASE_IMAGE


def _bootstrap_base(folder: Path, tarball: Path) -> None:
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise ServiceUnavailableError(f"`mmdebstrap` not found; {_HOW_TO_GET}")
    folder.mkdir(parents=True, exist_ok=True)
    staging = tarball.with_suffix(".partial.tar")
    args = [mmdebstrap, "--variant=minbase", "--quiet"]
    args += [f"--include={','.join(BASE_PACKAGES)}", BASE_SUITE, str(staging)]

    def run() -> None:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
        )
        if done.returncode != 0:
            raise ServiceUnavailableError(f"mmdebstrap failed:\n{done.stderr[-3000:]}")

    _timed(f"base from Debian {BASE_SUITE} ({', '.join(BASE_PACKAGES)})", run)
    staging.rename(tarball)
    (folder / MARKER_NAME).write_text(f"{BASE_SUITE} {' '.join(BASE_PACKAGES)}\n")


def build_image(*, quiet: bool = False) -> str:
    """The service's image on the Debian base; its tag. Built only when the tag is missing."""
    build_base()
    tag = image_tag()
    if image_exists(tag):
        _say(f"{tag}: already built")
        return tag
    program = shutil.which("podman")
    if program is None:
        raise ServiceUnavailableError(f"`podman` not found; {_HOW_TO_GET}")
    args = [program, "build", "--network", "host", "--layers", "--tag", tag]
    args += ["--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "--build-arg", f"UV_VERSION={uv_version()}"]
    # RUN steps reach the package registries through the machine's network and its CA
    # bundle (a proxy here re-signs TLS; the base's own bundle would not trust it).
    if Path("/etc/ssl/certs/ca-certificates.crt").is_file():
        args += ["--volume", "/etc/ssl/certs:/etc/ssl/certs:ro"]
    args += ["--file", str(ROOT / "Dockerfile"), str(ROOT)]
    log = cache_root() / "build.log"

    def run() -> None:
        with log.open("w") as out:
            process = subprocess.Popen(
                args, env=podman_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            assert process.stdout is not None
            for line in process.stdout:
                out.write(line)
                if not quiet and ("STEP " in line or " COMMIT " in f" {line}"):
                    _say(f"  {line.rstrip()}")
            code = process.wait(timeout=BUILD_TIMEOUT)
        if code != 0:
            tail = log.read_text()[-3000:]
            raise ServiceUnavailableError(f"podman build failed ({code}), {log}:\n{tail}")

    _timed(f"image {tag}", run)
    return tag


def _timed(what: str, step: object) -> None:
    assert callable(step)
    started = time.monotonic()
    _say(f"{what} …")
    step()
    _say(f"{what}: {time.monotonic() - started:.0f} s")


def _say(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build the base (if missing) and the image; print the tag")
    sub.add_parser("tag", help="print the tag the current tree builds to")
    args = parser.parse_args()
    try:
        if args.command == "build":
            print(build_image())
        else:
            print(image_tag())
    except ServiceUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
