"""Process-wide logging, tracing and metrics; called from each entry point's ``main()``."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import metrics
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource

from config.settings import TelemetrySettings
from telemetry.logs import configure_logging
from telemetry.metrics import serve_metrics
from telemetry.tracing import configure_tracing, exporter_endpoint, instrument_libraries

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
