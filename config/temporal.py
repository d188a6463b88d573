"""Temporal's settings: the connection, the payload codec's keys and the workers' pools
(``ORDERS_TEMPORAL__*``, ``ORDERS_WORKERS__*``).
"""

from __future__ import annotations

import base64
import binascii
import re

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from config.dev_defaults import DEV_CODEC_KEY, DEV_CODEC_KEY_ID

_HOST_PORT = re.compile(r"[A-Za-z0-9_.\-\[\]:]+:\d{1,5}")


class CodecSettings(BaseModel):
    """The payload codec's keys (``clients/codec.py``), e.g.
    ``ORDERS_TEMPORAL__CODEC__KEYS='{"2026-12": "<base64 AES key>"}'`` and
    ``ORDERS_TEMPORAL__CODEC__ACTIVE_KEY_ID=2026-12``. To rotate: add the new key, make it
    active, keep the old ones as long as histories encrypted with them are kept."""

    keys: dict[str, str] = Field(default_factory=lambda: {DEV_CODEC_KEY_ID: DEV_CODEC_KEY})
    active_key_id: str = DEV_CODEC_KEY_ID
    # Browser origins (the Web UI's) allowed to call the codec endpoint ``/codec``; in dev
    # any loopback origin is allowed too.
    cors_origins: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _usable(self) -> CodecSettings:
        self.key_bytes()
        if self.active_key_id not in self.keys:
            raise ValueError(
                f"ORDERS_TEMPORAL__CODEC__ACTIVE_KEY_ID {self.active_key_id!r} is not a key of "
                "ORDERS_TEMPORAL__CODEC__KEYS"
            )
        return self

    def key_bytes(self) -> dict[str, bytes]:
        keys = {}
        for key_id, encoded in self.keys.items():
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"ORDERS_TEMPORAL__CODEC__KEYS[{key_id!r}] is not base64") from exc
            if len(key) not in (16, 24, 32):
                raise ValueError(
                    f"ORDERS_TEMPORAL__CODEC__KEYS[{key_id!r}] must be a 128, 192 or 256-bit "
                    f"AES key, not {len(key) * 8} bits"
                )
            keys[key_id] = key
        return keys


class TemporalSettings(BaseModel):
    # One frontend, or several comma-separated: processes connect to the first that answers
    # and move to another when theirs stops answering (clients/temporal_failover.py).
    address: str = "localhost:7233"
    namespace: str = "default"
    # How long `python -m tools.bootstrap` has the namespace keep closed workflows.
    namespace_retention_days: int = Field(default=7, ge=1)
    ui_url: str = "http://localhost:8233"
    # Prefix for every task queue name, so two deployments can share one namespace.
    task_queue_prefix: str = ""
    # Prometheus endpoint of the SDK's own metrics on worker processes (task latencies,
    # slots, failures), e.g. "0.0.0.0:9465"; its own listener beside the process's metrics
    # port (telemetry/metrics.py says why); empty = off.
    metrics_bind_address: str = ""
    # How long one call keeps retrying Unavailable and the like: longer than a cluster
    # node's eviction (the SDK's default gives up after about 5 s), yet short: a call
    # already on its way to a dead frontend waits it out before the process moves on.
    rpc_retry_seconds: float = Field(default=30.0, gt=0)
    # How often the current frontend is probed, and after how many failed probes in a row
    # a process moves to another address of the list.
    failover_probe_seconds: float = Field(default=1.0, gt=0)
    failover_after_failures: int = Field(default=2, ge=1)
    # TLS (all off in dev). A client certificate makes it mTLS; an API key (Temporal
    # Cloud) turns TLS on with the system's roots unless a CA is named.
    tls: bool = False
    tls_client_cert_path: str = ""
    tls_client_key_path: str = ""
    tls_server_ca_path: str = ""
    tls_server_name: str = ""
    api_key: SecretStr = SecretStr("")
    codec: CodecSettings = Field(default_factory=CodecSettings)

    @property
    def addresses(self) -> list[str]:
        return [part.strip() for part in self.address.split(",") if part.strip()]

    @property
    def tls_enabled(self) -> bool:
        return bool(
            self.tls
            or self.tls_client_cert_path
            or self.tls_server_ca_path
            or self.tls_server_name
            or self.api_key.get_secret_value()
        )

    @field_validator("address")
    @classmethod
    def _host_port_list(cls, value: str) -> str:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        bad = [part for part in parts if not _HOST_PORT.fullmatch(part)]
        if not parts or bad:
            raise ValueError(
                f"ORDERS_TEMPORAL__ADDRESS must be host:port[,host:port…]; got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _tls_pairs(self) -> TemporalSettings:
        cert, key = self.tls_client_cert_path, self.tls_client_key_path
        if cert and not key:
            raise ValueError(
                "ORDERS_TEMPORAL__TLS_CLIENT_KEY_PATH is required with "
                "ORDERS_TEMPORAL__TLS_CLIENT_CERT_PATH (a certificate without its key)"
            )
        if key and not cert:
            raise ValueError(
                "ORDERS_TEMPORAL__TLS_CLIENT_CERT_PATH is required with "
                "ORDERS_TEMPORAL__TLS_CLIENT_KEY_PATH (a key without its certificate)"
            )
        return self


# What the Temporal server and a Kubernetes label both take (docs/versioning.md): the
# server refuses a leading "__" and more than 108 characters (its 255-character id limit
# holds the deployment name and the build id together); a label holds 63.
_BUILD_ID = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.\-]{0,61}[A-Za-z0-9])?")
# The server also refuses "." and ":" in a deployment name (they join name and build id).
_DEPLOYMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,62}")


class WorkerSettings(BaseModel):
    """Per-queue concurrency, so each pool is sized for the work it does; the Worker
    Deployment and build the pools belong to (docs/versioning.md)."""

    orders_max_concurrent_workflow_tasks: int = Field(default=100, ge=1)
    inventory_max_concurrent_activities: int = Field(default=100, ge=1)
    payments_max_concurrent_activities: int = Field(default=100, ge=1)
    notifications_max_concurrent_activities: int = Field(default=100, ge=1)
    graceful_shutdown_seconds: float = Field(default=10.0, ge=0)
    # False: the orders worker runs the SDK's own sandboxed runner (workers/sandbox.py).
    lean_workflow_runner: bool = True
    # Worker Versioning: with a build id, every pool polls as version
    # ``deployment_name:build_id`` and sagas stay pinned to the build that started them.
    # Empty: unversioned (make dev, the tests): one process runs one build anyway.
    deployment_name: str = "order-saga"
    build_id: str = ""

    @field_validator("deployment_name")
    @classmethod
    def _deployment_name_accepted(cls, value: str) -> str:
        if not _DEPLOYMENT_NAME.fullmatch(value):
            raise ValueError(
                f"ORDERS_WORKERS__DEPLOYMENT_NAME={value!r}: give 1-63 letters, digits, '-' or "
                "'_', starting with a letter or digit (Temporal refuses '.' and ':' in it)"
            )
        return value

    @field_validator("build_id")
    @classmethod
    def _build_id_accepted(cls, value: str) -> str:
        if value and not _BUILD_ID.fullmatch(value):
            raise ValueError(
                f"ORDERS_WORKERS__BUILD_ID={value!r}: give 1-63 letters, digits, '.', '-' or '_', "
                "starting and ending with a letter or digit (an image tag or a git commit), "
                "or leave it empty for unversioned workers"
            )
        return value

    @property
    def versioned(self) -> bool:
        return bool(self.build_id)
