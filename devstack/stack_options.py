"""What a stack runs: the options of devstack/stack.py's ``Stack``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from messages import queues


@dataclass
class StackOptions:
    run_dir: Path = Path(".run")
    temporal_port: int = 7233
    # The Temporal namespace the processes use (the dev server registers it); production
    # refuses "default", so production-mode stacks name their own.
    namespace: str = "default"
    ui_port: int = 8233
    api_port: int = 8000
    # None: SQLite in the run dir, or DATABASE_URL when set; True: a private PostgreSQL cluster.
    postgres: bool = False
    postgres_port: int | None = None
    # fsync and friends on: a crash of PostgreSQL loses nothing committed. Only the test
    # suite's throwaway clusters (tests/fixtures/postgres.py) run without, never here.
    postgres_durable: bool = True
    kafka: bool = False
    kafka_port: int | None = None
    # 1: one broker (dev); 3: a KRaft cluster whose topics are replicated three times.
    kafka_brokers: int = 1
    # One process per inner list; the dev default is every queue in one process.
    worker_groups: list[list[str]] = field(default_factory=lambda: [list(queues.ALL)])
    api_workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    # Only the worker processes' (the fault run sends them to Temporal through Toxiproxy).
    worker_env: dict[str, str] = field(default_factory=dict)
    # A private Jaeger receiving every process's spans (OTEL_EXPORTER_OTLP_ENDPOINT).
    tracing: bool = False
    seed: bool = True
    # A Prometheus endpoint on a free port for every process (workers: also the SDK's).
    metrics: bool = False
    # How long the API may take to listen (a loaded CI machine starts Python slowly).
    ready_seconds: float = 60.0
    # A local token issuer (RSA key + JWKS over HTTP) the API trusts instead of the dev
    # secret: tokens then come from `python -m tools.token --issuer-key <issuer.key_path>`.
    local_issuer: bool = False

    @classmethod
    def deployed(cls, run_dir: Path, **changes: Any) -> StackOptions:
        """The deployed shape on one machine, as the benchmark and the fault runs start it:
        every service on a free port (so it runs beside a ``make dev``), a durable
        PostgreSQL, Kafka, one worker process per queue, and no dev catalog."""
        shape = cls(
            run_dir=run_dir,
            temporal_port=0,
            ui_port=0,
            api_port=0,
            postgres=True,
            postgres_durable=True,
            kafka=True,
            worker_groups=[[name] for name in queues.ALL],
            seed=False,
        )
        return dataclasses.replace(shape, **changes)
