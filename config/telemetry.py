"""Logs, metrics and probes of every process (``ORDERS_TELEMETRY__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TelemetrySettings(BaseModel):
    log_level: str = "INFO"
    log_json: bool = False
    # Prometheus /metrics for this process; 0 = off.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # How often the API re-counts gauges read from the database (orders needing attention).
    sample_interval_seconds: float = Field(default=15.0, gt=0)
    # /healthz (live), /readyz (ready) and a worker's /pollers of a worker or relay process;
    # 0 = off.
    probe_port: int = Field(default=0, ge=0, le=65535)
    probe_host: str = "127.0.0.1"
