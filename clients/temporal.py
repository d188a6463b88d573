"""The Temporal client every process uses: pydantic payloads and tracing."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from config.settings import TemporalSettings


def build_runtime(settings: TemporalSettings) -> Runtime | None:
    """A runtime exporting the SDK's own metrics when an address is configured.

    The SDK's names (``temporal_workflow_task_execution_failed``,
    ``temporal_activity_schedule_to_start_latency`` …, counters without ``_total``), with
    durations in seconds like every other duration we export. The runtime binds its own
    listener, so only one per process: worker processes ask for it, the API does not
    (several API worker processes would race for the one address).
    """
    if not settings.metrics_bind_address:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=settings.metrics_bind_address, durations_as_seconds=True
            )
        )
    )


async def connect_temporal(settings: TemporalSettings, *, runtime: Runtime | None = None) -> Client:
    """``runtime``: the SDK runtime (``build_runtime``) for a worker process; else default."""
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
        interceptors=[TracingInterceptor()],
        runtime=runtime,
    )
