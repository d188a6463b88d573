"""Process-wide logging, tracing and metrics; called from each entry point's ``main()``."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from config.settings import TelemetrySettings
from telemetry.context import OrderContextFilter
from telemetry.metrics import serve_metrics

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [order=%(order_id)s] %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "order_id": getattr(record, "order_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(settings: TelemetrySettings) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(OrderContextFilter())
    handler.setFormatter(JsonFormatter() if settings.log_json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())


def configure_telemetry(settings: TelemetrySettings, service_name: str) -> None:
    configure_logging(settings)
    resource = Resource.create({"service.name": service_name})
    # A provider without an exporter still creates real spans, so trace context propagates
    # (Temporal headers, the outbox's traceparent); an exporter is a deployment choice.
    trace.set_tracer_provider(TracerProvider(resource=resource))
    readers = []
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, service_name)
        readers.append(PrometheusMetricReader())
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
