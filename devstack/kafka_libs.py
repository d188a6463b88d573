"""Finding what the Kafka broker runs on: a Java 17+, the broker's jars and its JVM's
class archive.

The jars come from Maven Central through ``devstack/maven/kafka/pom.xml`` and are resolved
once into a cache folder (:func:`ensure_kafka_libs`); devstack/kafka.py runs the broker
from there.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

from devstack.cache import cache_dir
from devstack.maven_fetch import fetch_once
from devstack.process import ServiceUnavailableError

KAFKA_VERSION = "4.3.1"  # keep in step with kafka.version in devstack/maven/kafka/pom.xml
POM_PATH = Path(__file__).resolve().parent / "maven" / "kafka" / "pom.xml"
LIBS_DIR_ENV = "ORDERS_KAFKA_LIBS_DIR"
MIN_JAVA = 17
CDS_ENV = "ORDERS_KAFKA_CDS"  # "0" turns the class-data-sharing archive off
MAVEN_TIMEOUT = 900.0

_HOW_TO_GET = (
    "the Kafka broker needs Java 17+ and Maven on PATH "
    "(Debian: apt-get install -y openjdk-17-jre-headless maven); "
    "its jars are then resolved once from Maven Central"
)


def default_libs_dir() -> Path:
    return cache_dir(LIBS_DIR_ENV, f"kafka-{KAFKA_VERSION}", "libs")


def java_executable() -> str:
    """The ``java`` to run the broker with (``$JAVA_HOME/bin/java`` first), checked to be 17+."""
    return java_info()[0]


@functools.cache
def java_info() -> tuple[str, str]:
    """``java``'s path and its ``-version`` text (which also names the exact JVM build)."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if java is None:
        raise ServiceUnavailableError(f"java not found; {_HOW_TO_GET}")
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=True
        ).stderr
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServiceUnavailableError(f"{java} -version failed ({exc}); {_HOW_TO_GET}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0_x" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise ServiceUnavailableError(f"{java} is Java {major or '?'}; {_HOW_TO_GET}")
    return java, out


def ensure_kafka_libs(cache_dir: Path | None = None) -> Path:
    """Resolve the broker's jars once into ``cache_dir`` and return that folder.

    Default folder: ``$ORDERS_KAFKA_LIBS_DIR`` or ``~/.cache/order-saga/kafka-<version>/libs``.
    A marker file (holding the pom's digest) says the folder is complete, so a second call
    only reads that file. Concurrent callers serialise on a lock file beside the folder.
    """
    return fetch_once(cache_dir or default_libs_dir(), POM_PATH, _fill, _HOW_TO_GET)


def _fill(mvn: str, staging: Path) -> Path:
    java_executable()
    _resolve_jars(mvn, staging)
    return staging


def _resolve_jars(mvn: str, into: Path) -> None:
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM_PATH),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={into}",
        "-DincludeScope=runtime",
    ]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=MAVEN_TIMEOUT,
            check=False,
            cwd=into,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServiceUnavailableError(
            f"resolving Kafka jars failed ({exc}); {_HOW_TO_GET}"
        ) from exc
    jars = list(into.glob("kafka_2.13-*.jar"))
    if done.returncode != 0 or not jars:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise ServiceUnavailableError(
            f"resolving Kafka jars with `{' '.join(cmd)}` failed "
            f"(exit {done.returncode}); {_HOW_TO_GET}:\n{tail}"
        )


class ClassArchive:
    """Class-data sharing for one broker: about halves the JVM's start (measured ~5 s ->
    ~2.5 s here).

    The first start dumps the classes it loaded into an archive when the JVM exits
    (a controlled stop); later starts map it. The archive's name is a digest of the JVM
    build, the VM flags and the jars, so any change simply makes a new one; a JVM that
    finds the archive unusable ignores it and starts as usual.
    """

    def __init__(self) -> None:
        self._pending: tuple[Path, Path] | None = None  # (written at exit, final name)

    def jvm_args(self, libs: Path, jvm: list[str]) -> list[str]:
        self._pending = None
        if os.environ.get(CDS_ENV, "1") == "0":
            return []
        key = hashlib.sha256()
        vm_flags = [arg for arg in jvm if arg.startswith("-X")]  # not -D: per run dir
        jars = sorted(path.name for path in libs.glob("*.jar"))
        for part in (*java_info(), *vm_flags, str(libs), *jars):
            key.update(part.encode() + b"\0")
        archive = libs.parent / f"cds-{key.hexdigest()[:16]}.jsa"
        if archive.is_file():
            return [f"-XX:SharedArchiveFile={archive}"]
        if not os.access(libs.parent, os.W_OK):
            return []
        partial = libs.parent / f".{archive.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        self._pending = (partial, archive)
        return [f"-XX:ArchiveClassesAtExit={partial}"]

    def settle(self) -> None:
        """Move an archive the JVM wrote on exit into place; drop one it could not finish."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        partial, archive = pending
        try:
            if partial.is_file() and partial.stat().st_size > 0 and not archive.exists():
                partial.replace(archive)
        except OSError:
            pass
        partial.unlink(missing_ok=True)
