"""A real single-node Apache Kafka broker (KRaft: one JVM as broker and controller) on loopback.

The broker's jars come from Maven Central through ``devstack/maven/kafka/pom.xml`` and are
resolved once into a cache folder (devstack/kafka_libs.py); the broker then runs as
``java -cp '<libs>/*' kafka.Kafka server.properties`` after its storage was formatted.

Command line (used by the dev launcher)::

    python -m devstack.kafka --run-dir .run/kafka [--port 9092]
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from devstack.kafka_config import LOG4J2_PROPERTIES, single_node_properties
from devstack.kafka_libs import (
    KAFKA_VERSION,
    ClassArchive,
    ensure_kafka_libs,
    java_executable,
)
from devstack.process import (
    ManagedProcess,
    ServiceUnavailableError,
    free_port,
    port_open,
    wait_until,
)
from devstack.supervisor import StopRequest

STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
BROKER_MAIN = "kafka.Kafka"
BROKER_HEAP = ("-Xms128m", "-Xmx512m")
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0


def random_cluster_id() -> str:
    """A Kafka ``Uuid`` string: 16 random bytes, URL-safe base64 without padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # as Kafka's Uuid.randomUuid: keeps CLIs happy
            return text


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
        self._archive = ClassArchive()
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
            [*jvm, *self._archive.jvm_args(libs, jvm), BROKER_MAIN, str(self.config_path)],
            self.log_path,
            env=self._env(),
            cwd=self.run_dir,
        ).start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Controlled shutdown (SIGTERM); SIGKILL if it takes longer than ``timeout``."""
        if self._process is not None:
            self._process.stop(timeout=timeout)
            self._archive.settle()

    def kill(self) -> None:
        """SIGKILL, as a crash would: the broker recovers its logs on the next start."""
        if self._process is not None:
            self._process.kill()
            self._archive.settle()

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
        self.log4j_path.write_text(LOG4J2_PROPERTIES)

    def _properties(self) -> dict[str, str]:
        return single_node_properties(self.port, self.controller_port, self.data_dir)

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
