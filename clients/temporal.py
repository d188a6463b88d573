"""The Temporal client every process uses: pydantic payloads, tracing, TLS, a retry budget.

``connect_temporal`` connects to the first frontend of ``settings.address`` (a
comma-separated list) that answers; ``clients.temporal_failover`` moves a running process
to another one when its frontend stops answering.
"""

from __future__ import annotations

import logging
from pathlib import Path

from temporalio.client import Client, TLSConfig
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RetryConfig

from config.settings import TemporalSettings

log = logging.getLogger(__name__)

# One runtime per process: the SDK binds its metrics endpoint once.
_runtimes: dict[str, Runtime] = {}


class TemporalConfigError(ValueError):
    """A Temporal setting that cannot work; the message names it."""


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
    if settings.metrics_bind_address not in _runtimes:
        _runtimes[settings.metrics_bind_address] = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(
                    bind_address=settings.metrics_bind_address, durations_as_seconds=True
                )
            )
        )
    return _runtimes[settings.metrics_bind_address]


def _read(setting: str, path: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TemporalConfigError(
            f"ORDERS_TEMPORAL__{setting}={path} cannot be read: {exc}"
        ) from exc


def tls_config(settings: TemporalSettings) -> TLSConfig | bool:
    """``False`` (plaintext), ``True`` (TLS with the system's roots) or a full TLSConfig."""
    if not settings.tls_enabled:
        return False
    ca = _read("TLS_SERVER_CA_PATH", settings.tls_server_ca_path)
    cert = _read("TLS_CLIENT_CERT_PATH", settings.tls_client_cert_path)
    key = _read("TLS_CLIENT_KEY_PATH", settings.tls_client_key_path)
    if ca is None and cert is None and not settings.tls_server_name:
        return True
    return TLSConfig(
        server_root_ca_cert=ca,
        domain=settings.tls_server_name or None,
        client_cert=cert,
        client_private_key=key,
    )


def retry_config(settings: TemporalSettings) -> RetryConfig:
    return RetryConfig(
        initial_interval_millis=100,
        max_interval_millis=2000,
        max_elapsed_time_millis=int(settings.rpc_retry_seconds * 1000),
        # The elapsed time is the budget; the count must not end it first.
        max_retries=10_000,
    )


async def connect_to(
    settings: TemporalSettings, address: str, runtime: Runtime | None = None
) -> Client:
    return await Client.connect(
        address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
        interceptors=[TracingInterceptor()],
        runtime=runtime,
        tls=tls_config(settings),
        api_key=settings.api_key.get_secret_value() or None,
        retry_config=retry_config(settings),
    )


async def connect_temporal(
    settings: TemporalSettings, *, start_at: int = 0, runtime: Runtime | None = None
) -> Client:
    """A client on the first frontend (from ``start_at`` in the list, wrapping) that answers.

    ``runtime``: the SDK runtime (``build_runtime``) for a worker process; else the default."""
    addresses = settings.addresses
    errors: list[str] = []
    for offset in range(len(addresses)):
        address = addresses[(start_at + offset) % len(addresses)]
        try:
            return await connect_to(settings, address, runtime)
        except TemporalConfigError:
            raise
        except Exception as exc:  # the bridge raises RuntimeError for any connection failure
            log.warning("Temporal frontend %s unreachable: %s", address, exc)
            errors.append(f"{address}: {exc}")
    raise RuntimeError("no Temporal frontend answered: " + "; ".join(errors))
