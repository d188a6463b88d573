"""The Temporal client every process uses: pydantic payloads, encrypted, and tracing."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from clients.codec import data_converter
from config.settings import TemporalSettings


def build_runtime(settings: TemporalSettings) -> Runtime | None:
    """A runtime exporting the SDK's own metrics when an address is configured."""
    if not settings.metrics_bind_address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=settings.metrics_bind_address)
        )
    )


async def connect_temporal(settings: TemporalSettings) -> Client:
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=data_converter(settings.codec),
        interceptors=[TracingInterceptor()],
        runtime=build_runtime(settings),
    )
