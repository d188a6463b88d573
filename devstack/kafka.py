"""A real single-node Apache Kafka broker (KRaft: one JVM as broker and controller) on loopback.

The broker's jars come from Maven Central through ``devstack/maven/kafka/pom.xml`` and are
resolved once into a cache folder (see :func:`ensure_kafka_libs`); the broker then runs as
``java -cp '<libs>/*' kafka.Kafka server.properties`` after its storage was formatted.

Command line (used by the dev launcher)::

    python -m devstack.kafka --run-dir .run/kafka [--port 9092]
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from devstack.process import (
    ManagedProcess,
    ServiceUnavailableError,
    free_port,
    port_open,
    wait_until,
)
from devstack.supervisor import StopRequest

KAFKA_VERSION = "4.3.1"  # keep in step with kafka.version in devstack/maven/kafka/pom.xml
POM_PATH = Path(__file__).resolve().parent / "maven" / "kafka" / "pom.xml"
LIBS_DIR_ENV = "ORDERS_KAFKA_LIBS_DIR"
MARKER_NAME = ".complete"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
BROKER_MAIN = "kafka.Kafka"
MIN_JAVA = 17
BROKER_HEAP = ("-Xms128m", "-Xmx512m")
CDS_ENV = "ORDERS_KAFKA_CDS"  # "0" turns the class-data-sharing archive off
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
MAVEN_TIMEOUT = 900.0

_HOW_TO_GET = (
    "the Kafka broker needs Java 17+ and Maven on PATH "
    "(Debian: apt-get install -y openjdk-17-jre-headless maven); "
    "its jars are then resolved once from Maven Central"
)


def default_libs_dir() -> Path:
    override = os.environ.get(LIBS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "order-saga" / f"kafka-{KAFKA_VERSION}" / "libs"


def _pom_digest() -> str:
    return hashlib.sha256(POM_PATH.read_bytes()).hexdigest()


def _libs_complete(libs: Path, digest: str) -> bool:
    marker = libs / MARKER_NAME
    try:
        return marker.read_text().strip() == digest
    except OSError:
        return False


def java_executable() -> str:
    """The ``java`` to run the broker with (``$JAVA_HOME/bin/java`` first), checked to be 17+."""
    return _java_info()[0]


@functools.cache
def _java_info() -> tuple[str, str]:
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
    libs = (cache_dir or default_libs_dir()).expanduser().resolve()
    digest = _pom_digest()
    if _libs_complete(libs, digest):
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    with (libs.parent / f".{libs.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _libs_complete(libs, digest):  # another process finished meanwhile
            return libs
        java_executable()
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServiceUnavailableError(f"mvn not found; {_HOW_TO_GET}")
        staging = Path(tempfile.mkdtemp(prefix=f".{libs.name}-", dir=libs.parent))
        try:
            _resolve_jars(mvn, staging)
            (staging / MARKER_NAME).write_text(digest + "\n")
            if libs.exists():
                shutil.rmtree(libs)
            staging.rename(libs)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return libs


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


def random_cluster_id() -> str:
    """A Kafka ``Uuid`` string: 16 random bytes, URL-safe base64 without padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # as Kafka's Uuid.randomUuid: keeps CLIs happy
            return text


_LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
"""


class KafkaBroker:
    """One Kafka broker+controller process on 127.0.0.1 with its data under ``run_dir/data``.

    The ports are chosen once (``port`` or a free one for the broker, a free one for the
    controller) and kept across :meth:`restart`, and so is the data directory.
    """

    def __init__(self, run_dir: Path, port: int | None = None, libs_dir: Path | None = None):
        self.run_dir = run_dir.resolve()
        self.port = port if port is not None else free_port()
        self.controller_port = free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self._libs_dir = libs_dir
        self.data_dir = self.run_dir / "data"
        self.config_path = self.run_dir / "server.properties"
        self.log4j_path = self.run_dir / "log4j2.properties"
        self.log_path = self.run_dir / "kafka.log"
        self._process: ManagedProcess | None = None
        self._archive_pending: tuple[Path, Path] | None = None  # (written at exit, final name)
        self.cluster_id = random_cluster_id()

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def process(self) -> ManagedProcess | None:
        return self._process

    @property
    def pid(self) -> int:
        assert self._process is not None, "kafka broker not started"
        return self._process.pid

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = READY_TIMEOUT) -> KafkaBroker:
        if self.alive():
            return self
        self.launch()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def launch(self) -> None:
        """Start the JVM without waiting for it: a cluster's nodes need each other to be ready."""
        libs = ensure_kafka_libs(self._libs_dir)
        java = java_executable()
        for busy in (self.port, self.controller_port):
            if port_open(busy):
                raise ServiceUnavailableError(f"port {busy} on 127.0.0.1 is already in use")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        classpath = f"{libs}/*"
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage(java, classpath)
        jvm = [*self._jvm_args(java, classpath), *BROKER_HEAP]
        self._process = ManagedProcess(
            "kafka",
            [*jvm, *self._cds_args(libs, jvm), BROKER_MAIN, str(self.config_path)],
            self.log_path,
            env=self._env(),
            cwd=self.run_dir,
        ).start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Controlled shutdown (SIGTERM); SIGKILL if it takes longer than ``timeout``."""
        if self._process is not None:
            self._process.stop(timeout=timeout)
            self._settle_archive()

    def kill(self) -> None:
        """SIGKILL, as a crash would: the broker recovers its logs on the next start."""
        if self._process is not None:
            self._process.kill()
            self._settle_archive()

    def restart(self, timeout: float = READY_TIMEOUT) -> KafkaBroker:
        """Stop and start again on the same ports with the same data."""
        self.stop()
        return self.start(timeout=timeout)

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        # Kafka's own launch scripts read these; clear them so nothing leaks into our JVM.
        return {"KAFKA_OPTS": "", "KAFKA_HEAP_OPTS": "", "KAFKA_JVM_PERFORMANCE_OPTS": ""}

    def _cds_args(self, libs: Path, jvm: list[str]) -> list[str]:
        """Class-data sharing: about halves the JVM's start (measured ~5 s -> ~2.5 s here).

        The first start dumps the classes it loaded into an archive when the JVM exits
        (a controlled stop); later starts map it. The archive's name is a digest of the JVM
        build, the VM flags and the jars, so any change simply makes a new one; a JVM that
        finds the archive unusable ignores it and starts as usual.
        """
        self._archive_pending = None
        if os.environ.get(CDS_ENV, "1") == "0":
            return []
        key = hashlib.sha256()
        vm_flags = [arg for arg in jvm if arg.startswith("-X")]  # not -D: per run dir
        jars = sorted(path.name for path in libs.glob("*.jar"))
        for part in (*_java_info(), *vm_flags, str(libs), *jars):
            key.update(part.encode() + b"\0")
        archive = libs.parent / f"cds-{key.hexdigest()[:16]}.jsa"
        if archive.is_file():
            return [f"-XX:SharedArchiveFile={archive}"]
        if not os.access(libs.parent, os.W_OK):
            return []
        partial = libs.parent / f".{archive.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        self._archive_pending = (partial, archive)
        return [f"-XX:ArchiveClassesAtExit={partial}"]

    def _settle_archive(self) -> None:
        """Move an archive the JVM wrote on exit into place; drop one it could not finish."""
        pending, self._archive_pending = self._archive_pending, None
        if pending is None:
            return
        partial, archive = pending
        try:
            if partial.is_file() and partial.stat().st_size > 0 and not archive.exists():
                partial.replace(archive)
        except OSError:
            pass
        partial.unlink(missing_ok=True)

    def _jvm_args(self, java: str, classpath: str) -> list[str]:
        return [
            java,
            "-server",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.log4j_path}",
            f"-Dkafka.logs.dir={self.run_dir}",
            "-cp",
            classpath,
        ]

    def _write_config(self) -> None:
        props = self._properties()
        self.config_path.write_text(
            "# written by devstack/kafka.py; rewritten on every start\n"
            + "".join(f"{key}={value}\n" for key, value in props.items())
        )
        self.log4j_path.write_text(_LOG4J2_PROPERTIES)

    def _properties(self) -> dict[str, str]:
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "share.coordinator.state.topic.num.partitions": "1",
            # after a kill() the controller refuses the new incarnation until the old one's
            # session expires (default 9 s); a short session makes crash-restarts quick
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "3000",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
        }

    def _format_storage(self, java: str, classpath: str) -> None:
        cmd = [
            *self._jvm_args(java, classpath),
            "-Xmx256m",
            "-XX:TieredStopAtLevel=1",
            STORAGE_TOOL_MAIN,
            "format",
            "--cluster-id",
            self.cluster_id,
            "--config",
            str(self.config_path),
            "--ignore-formatted",
        ]
        try:
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                cwd=self.run_dir,
                env={**os.environ, **self._env()},
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ServiceUnavailableError(f"formatting Kafka storage failed: {exc}") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            raise ServiceUnavailableError(
                f"formatting Kafka storage in {self.data_dir} failed "
                f"(exit {done.returncode}):\n{tail}"
            )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        from confluent_kafka.admin import AdminClient  # noqa: PLC0415 - keeps CLI import light

        process = self._process
        assert process is not None
        admin: AdminClient | None = None

        def ready() -> bool:
            nonlocal admin
            process.check_alive()  # raises with the log tail if the JVM died
            if not port_open(self.port):
                return False
            if admin is None:
                admin = AdminClient(
                    {
                        "bootstrap.servers": self.bootstrap_servers,
                        "reconnect.backoff.ms": 50,
                        "reconnect.backoff.max.ms": 200,
                        "log_level": 0,
                    }
                )
            try:
                admin.list_topics(timeout=2.0)
            except Exception:  # not ready yet; wait_until retries until its timeout
                return False
            return True

        try:
            wait_until(ready, timeout, f"kafka broker on {self.bootstrap_servers}", 0.1)
        except ServiceUnavailableError as exc:
            if "not ready after" in str(exc):
                raise ServiceUnavailableError(
                    f"{exc}; see {self.log_path}:\n{process.log_tail()}"
                ) from exc
            raise


def start_kafka(run_dir: Path, port: int | None = None) -> KafkaBroker:
    """Start a broker under ``run_dir`` (data kept there) and return it once it answers."""
    return KafkaBroker(run_dir, port=port).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.kafka",
        description="Run a single-node Kafka broker (KRaft) in the foreground on 127.0.0.1.",
    )
    parser.add_argument("--run-dir", type=Path, default=Path(".run/kafka"))
    parser.add_argument("--port", type=int, default=None, help="broker port (default: a free one)")
    args = parser.parse_args(argv)

    stop = StopRequest()

    started = time.monotonic()
    try:
        broker = start_kafka(args.run_dir, port=args.port)
    except ServiceUnavailableError as exc:
        sys.stderr.write(f"kafka: {exc}\n")
        return 1
    sys.stdout.write(
        f"kafka {KAFKA_VERSION} ready in {time.monotonic() - started:.1f}s "
        f"(pid {broker.pid}, log {broker.log_path})\n"
        f"bootstrap servers: {broker.bootstrap_servers}\n"
    )
    sys.stdout.flush()
    try:
        if not stop.wait_until_requested(broker.alive, interval=1.0):
            sys.stderr.write(f"kafka exited; see {broker.log_path}\n")
            return 1
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
