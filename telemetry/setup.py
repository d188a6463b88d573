"""Process-wide logging, tracing and metrics; called from each entry point's ``main()``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource

from config.demo_allowance import allowance_notice
from config.settings import Settings, TelemetrySettings
from telemetry.logs import configure_logging
from telemetry.metrics import serve_metrics
from telemetry.tracing import configure_tracing, exporter_endpoint, instrument_libraries

log = logging.getLogger("orders.demo_allowance")

# Service names, one per kind of process (see docs: one trace per order across them).
API_SERVICE = "order-api"
RELAY_SERVICE = "order-outbox-relay"


def worker_service(queue_names: Sequence[str]) -> str:
    """``order-worker-payments``; a dev process polling several queues joins their names."""
    return f"order-worker-{'-'.join(queue_names)}"


def configure_telemetry(settings: TelemetrySettings, service_name: str) -> None:
    configure_logging(settings)
    resource = Resource.create({"service.name": service_name})
    # Without an OTLP endpoint the provider records nothing but trace context still
    # propagates (Temporal headers, the outbox's traceparent, the log lines' trace id).
    configure_tracing(resource)
    instrument_libraries(exporting=exporter_endpoint() is not None)
    readers = []
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, service_name)
        readers.append(PrometheusMetricReader())
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))


def announce_demo_allowance(settings: Settings) -> None:
    """One WARNING at start while ``ORDERS_DEMO_ALLOWANCE`` is on, naming what it permits:
    a demo running as production is never silent about it. Every entry point calls this
    right after configure_telemetry (tests/unit/test_demo_allowance.py holds them to it)."""
    if settings.demo_allowance:
        log.warning(allowance_notice())
