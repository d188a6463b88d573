"""The deployed processes for one test: ``python -m api``, one ``python -m workers`` per
task queue and ``python -m outbox``, on the session's Temporal, PostgreSQL and Kafka, each
exporting its spans to the session's Jaeger and logging JSON to a file of its own."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.settings import KafkaSettings, TemporalSettings
from devstack.jaeger import Jaeger
from devstack.process import ManagedProcess, free_port, port_open, wait_until
from messages import queues

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningStack:
    api_url: str
    kafka: KafkaSettings
    logs: dict[str, Path]
    processes: dict[str, ManagedProcess]

    def log_lines(self, name: str) -> list[dict[str, Any]]:
        """The JSON lines a process wrote so far (other output, e.g. a traceback, skipped)."""
        text = self.logs[name].read_text(errors="replace")
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def check_alive(self) -> None:
        for process in self.processes.values():
            process.check_alive()


@contextmanager
def running_stack(
    run_dir: Path, pg_url: str, temporal: TemporalSettings, bootstrap: str, jaeger: Jaeger
) -> Iterator[RunningStack]:
    suffix = uuid.uuid4().hex[:8]
    # Topics and task queues of this test's own: nothing else reads or polls them.
    kafka = KafkaSettings(
        bootstrap_servers=bootstrap,
        order_topic=f"order-events-{suffix}",
        inventory_topic=f"inventory-events-{suffix}",
        payment_topic=f"payment-events-{suffix}",
        notification_topic=f"notification-events-{suffix}",
        partitions=1,
    )
    api_port = free_port()
    # Added to this process's environment (ManagedProcess); these win over it.
    env = {
        "PYTHONUNBUFFERED": "1",
        "ORDERS_ENVIRONMENT": "test",
        "ORDERS_DATABASE__URL": pg_url,
        "ORDERS_TEMPORAL__ADDRESS": temporal.address,
        "ORDERS_TEMPORAL__NAMESPACE": temporal.namespace,
        "ORDERS_TEMPORAL__TASK_QUEUE_PREFIX": f"traces-{suffix}-",
        "ORDERS_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "ORDERS_KAFKA__ORDER_TOPIC": kafka.order_topic,
        "ORDERS_KAFKA__INVENTORY_TOPIC": kafka.inventory_topic,
        "ORDERS_KAFKA__PAYMENT_TOPIC": kafka.payment_topic,
        "ORDERS_KAFKA__NOTIFICATION_TOPIC": kafka.notification_topic,
        "ORDERS_KAFKA__PARTITIONS": "1",
        "ORDERS_API__PORT": str(api_port),
        "ORDERS_TELEMETRY__LOG_JSON": "true",
        # Spans leave each process within 100 ms instead of the default 5 s.
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        **jaeger.exporter_env(),
    }
    commands = {"api": [sys.executable, "-m", "api"]}
    for name in queues.ALL:
        commands[f"worker-{name}"] = [sys.executable, "-m", "workers", "--queue", name]
    commands["outbox-relay"] = [sys.executable, "-m", "outbox"]
    logs = {name: run_dir / f"{name}.log" for name in commands}
    processes: dict[str, ManagedProcess] = {}
    try:
        for name, args in commands.items():
            processes[name] = ManagedProcess(name, args, logs[name], env=env, cwd=ROOT).start()
        stack = RunningStack(f"http://127.0.0.1:{api_port}", kafka, logs, processes)

        def api_up() -> bool:
            stack.check_alive()
            return port_open(api_port)

        wait_until(api_up, 60, "the API process")
        yield stack
    finally:
        # SIGTERM: each process returns from main(), and its provider flushes its spans.
        for process in reversed(list(processes.values())):
            process.stop()
