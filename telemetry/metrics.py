"""Each process's Prometheus endpoint, and the API's across several uvicorn worker processes.

One process, one port (``ORDERS_TELEMETRY__METRICS_PORT``): the endpoint serves the default
registry, which holds the metrics defined with ``prometheus_client`` (business and HTTP)
and, through OpenTelemetry's Prometheus reader, the relay's outbox metrics.

``python -m api --workers N`` runs N processes behind one HTTP port, and N processes cannot
bind one metrics port. prometheus-client's multiprocess mode is the library's answer: each
worker process writes its samples into files under ``PROMETHEUS_MULTIPROC_DIR`` and the
supervising process, which lives as long as they do, serves their sum on the metrics port.
So a scrape sees the API as one target whatever N is, and counters survive a worker's
restart. The variable must be set before a worker process imports ``prometheus_client``;
``python -m api`` sets it before uvicorn spawns them.

The Temporal SDK's own metrics are served by its Rust core on a listener of its own
(``ORDERS_TEMPORAL__METRICS_BIND_ADDRESS``, see ``clients/temporal.py``): that exporter
cannot add to a Python registry, and a second port costs less than re-exporting its
samples through our own code.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    disable_created_metrics,
    multiprocess,
    start_http_server,
)

__all__ = [
    "MULTIPROC_DIR_VARIABLE",
    "prepare_multiprocess_dir",
    "serve_metrics",
    "serve_multiprocess_metrics",
]

log = logging.getLogger(__name__)

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Every address on the host: Prometheus scrapes pods and hosts from outside.
BIND_HOST = "0.0.0.0"  # noqa: S104


def serve_metrics(port: int, service_name: str, registry: CollectorRegistry = REGISTRY) -> None:
    """Serve ``registry`` on ``http://<host>:<port>/metrics`` from a daemon thread."""
    # A `_created` series per counter doubles the series for no question we ask.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    start_http_server(port, addr=BIND_HOST, registry=registry)
    log.info("%s metrics on http://%s:%d/metrics", service_name, BIND_HOST, port)


def prepare_multiprocess_dir() -> Path:
    """The folder the API's worker processes share their samples through, emptied.

    ``PROMETHEUS_MULTIPROC_DIR`` names it when set (a volume the platform wipes, say);
    otherwise a fresh temporary folder. Files left by an earlier run would be added to
    this run's counters, so they are removed first.
    """
    configured = os.environ.get(MULTIPROC_DIR_VARIABLE)
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="order-api-metrics-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ[MULTIPROC_DIR_VARIABLE] = str(folder)
    return folder


def serve_multiprocess_metrics(port: int, service_name: str, folder: Path) -> None:
    """Serve the sum of the samples every worker process wrote under ``folder``."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    serve_metrics(port, service_name, registry)
