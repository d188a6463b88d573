"""Keycloak's server distribution: resolved once from Maven Central and unzipped into a cache
folder, ``~/.cache/order-saga/keycloak-<version>/`` (``$ORDERS_KEYCLOAK_DIR`` moves it).

``devstack/maven/keycloak/pom.xml`` names the one artifact
(``org.keycloak:keycloak-quarkus-dist:<version>:zip``, about 160 MB); Maven fetches it, it is
unzipped beside the final folder and renamed into place with a marker file holding the pom's
digest, so a second call only reads that file. Concurrent callers serialise on a lock file.
``python -m devstack.keycloak_dist`` does it up front (``.ci/run``) and prints the folder.

``bin/kc.sh start-dev`` "augments" the distribution on its first start (about 10 s, writing
under ``lib/quarkus``); :func:`first_start` serialises that start across processes, since two
at once would rewrite the same files.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.cache import cache_dir
from devstack.kafka_libs import java_executable
from devstack.maven_fetch import fetch_once
from devstack.process import ServiceUnavailableError

KEYCLOAK_VERSION = "26.4.0"  # keep in step with keycloak.version in the pom
POM_PATH = Path(__file__).resolve().parent / "maven" / "keycloak" / "pom.xml"
DIST_DIR_ENV = "ORDERS_KEYCLOAK_DIR"
AUGMENTED_MARKER = ".dev-augmented"
ZIP_NAME = "keycloak-quarkus-dist.zip"  # destFileName in the pom
MAVEN_TIMEOUT = 900.0

_HOW_TO_GET = (
    "Keycloak needs Java 17+ and Maven on PATH "
    "(Debian: apt-get install -y openjdk-17-jre-headless maven); "
    "its server distribution is then resolved once from Maven Central"
)


def default_dist_dir() -> Path:
    return cache_dir(DIST_DIR_ENV, f"keycloak-{KEYCLOAK_VERSION}")


def ensure_keycloak_dist(home: Path | None = None) -> Path:
    """The unzipped distribution (its ``bin/kc.sh``, ``lib``, ``themes``…), fetched if missing."""
    return fetch_once(home or default_dist_dir(), POM_PATH, _fill, _HOW_TO_GET)


def _fill(mvn: str, staging: Path) -> Path:
    java_executable()
    return _unzip(_fetch_zip(mvn, staging), staging / "unzipped")


def _fetch_zip(mvn: str, into: Path) -> Path:
    cmd = [mvn, "-q", "-B", "-f", str(POM_PATH), "dependency:copy", f"-Dkeycloak.out={into}"]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=MAVEN_TIMEOUT, check=False, cwd=into
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServiceUnavailableError(f"fetching Keycloak failed ({exc}); {_HOW_TO_GET}") from exc
    archive = into / ZIP_NAME
    if done.returncode != 0 or not archive.is_file():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise ServiceUnavailableError(
            f"fetching Keycloak with `{' '.join(cmd)}` failed "
            f"(exit {done.returncode}); {_HOW_TO_GET}:\n{tail}"
        )
    return archive


def _unzip(archive: Path, into: Path) -> Path:
    """Extract ``archive`` keeping the files' modes (``zipfile`` drops them: kc.sh must run);
    returns its one top folder (``keycloak-<version>``)."""
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(into)
        for info in bundle.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                (into / info.filename).chmod(mode)
    (top,) = into.iterdir()
    if not (top / "bin" / "kc.sh").is_file():
        raise ServiceUnavailableError(f"{archive} holds no bin/kc.sh; not a Keycloak server")
    return top


@contextmanager
def first_start(home: Path) -> Iterator[None]:
    """Hold this around a server's start until it answers: the first start of a fresh
    distribution augments it, and only one process may do that; later starts pass freely."""
    marker = home / AUGMENTED_MARKER
    if marker.exists():
        yield
        return
    with (home.parent / f".{home.name}.start.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
        marker.write_text("kc.sh start-dev augmented this distribution\n")


def main() -> None:
    started = time.monotonic()
    try:
        home = ensure_keycloak_dist()
    except ServiceUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    print(f"Keycloak {KEYCLOAK_VERSION}: {home} ({time.monotonic() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
