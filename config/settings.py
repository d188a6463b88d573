"""The one Settings object, nested by concern, read from ``ORDERS_*`` variables.

Nested fields use ``__``: ``ORDERS_DATABASE__URL``, ``ORDERS_KAFKA__BOOTSTRAP_SERVERS``.
Two conventional shortcuts are honoured because every platform sets them:
``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` (the ``ORDERS_`` forms win).
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Only for dev tokens; production refuses to start with it (see the validator below).
DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105
RUN_DIR = Path(".run")
# Only for dev and tests: payloads it encrypts are as good as clear to anyone with this file.
# Production refuses to start with it (see the validator below).
DEV_CODEC_KEY_ID = "dev"
DEV_CODEC_KEY = "ZGV2LW9ubHktY29kZWMta2V5LW5vdC1hLXNlY3JldCE="


class DatabaseSettings(BaseModel):
    # SQLite keeps the zero-setup dev mode; PostgreSQL is the production store.
    url: str = f"sqlite+aiosqlite:///{RUN_DIR}/orders.db"
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        """Accept the plain URLs platforms hand out and pick the async drivers we ship."""
        for plain, driver in (
            ("postgres://", "postgresql+psycopg://"),
            ("postgresql://", "postgresql+psycopg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if value.startswith(plain):
                return driver + value[len(plain) :]
        return value

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")


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
    address: str = "localhost:7233"
    namespace: str = "default"
    ui_url: str = "http://localhost:8233"
    # Prefix for every task queue name, so two deployments can share one namespace.
    task_queue_prefix: str = ""
    # Prometheus endpoint of the SDK's own metrics (task latencies, slots); empty = off.
    metrics_bind_address: str = ""
    codec: CodecSettings = Field(default_factory=CodecSettings)


class WorkerSettings(BaseModel):
    """Per-queue concurrency, so each pool is sized for the work it does."""

    orders_max_concurrent_workflow_tasks: int = Field(default=100, ge=1)
    inventory_max_concurrent_activities: int = Field(default=100, ge=1)
    payments_max_concurrent_activities: int = Field(default=100, ge=1)
    notifications_max_concurrent_activities: int = Field(default=100, ge=1)
    graceful_shutdown_seconds: float = Field(default=10.0, ge=0)


class KafkaSettings(BaseModel):
    # Empty = no broker: the relay stays off and events wait in the events table.
    bootstrap_servers: str = ""
    order_topic: str = "order-events"
    inventory_topic: str = "inventory-events"
    payment_topic: str = "payment-events"
    notification_topic: str = "notification-events"
    partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    event_source: str = "/order-saga"

    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap_servers)


class RestockSettings(BaseModel):
    # How long the supplier takes to deliver a restock order (a durable timer in the workflow).
    lead_time_seconds: float = Field(default=3600.0, ge=0)
    admin_email: str = "stock-admins@example.com"


class OutboxSettings(BaseModel):
    batch_size: int = Field(default=500, ge=1)
    poll_interval_seconds: float = Field(default=0.2, gt=0)


class PaymentSettings(BaseModel):
    # "direct" charges at once; "authorize_capture" holds the money and captures at confirmation.
    flow: Literal["direct", "authorize_capture"] = "direct"
    gateway_latency_ms: int = Field(default=0, ge=0)
    gateway_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_recovery_seconds: float = Field(default=10.0, gt=0)
    currency: str = "EUR"
    # The simulated provider's ledger, a SQLite file standing for the provider's own
    # database: every worker process on the same file shares one provider. Empty = each
    # process keeps its own ledger in memory (unit tests only).
    simulated_ledger_path: str = ""


class SagaSettings(BaseModel):
    """The saga's budgets and waits, in one place (the fault tests shorten them here).

    Passed to each saga in its input (``messages.saga.SagaPolicy``), since workflow code
    cannot read the environment: ``ORDERS_SAGA__CHARGE_BUDGET_SECONDS=30``.
    """

    # Infrastructure failures (database trouble, provider outage) are retried this long,
    # then the order waits in NEEDS_ATTENTION for an operator instead of failing.
    reserve_budget_seconds: float = Field(default=120.0, gt=0)
    charge_budget_seconds: float = Field(default=600.0, gt=0)
    # A parked order compensates by itself after this hold (a durable timer).
    attention_hold_seconds: float = Field(default=24 * 3600.0, gt=0)
    # A payment waiting for the customer's action (3-D Secure…) is voided after this.
    payment_action_timeout_seconds: float = Field(default=30 * 60.0, gt=0)


class NotificationSettings(BaseModel):
    channel: Literal["log", "smtp"] = "log"
    smtp_host: str = "localhost"
    smtp_port: int = 1025
    smtp_sender: str = "orders@example.com"
    smtp_timeout_seconds: float = 10.0


class AuthSettings(BaseModel):
    # Production verifies against the identity provider's JWKS; dev may use a shared secret.
    jwks_url: str = ""
    jwt_secret: str = DEV_JWT_SECRET
    algorithms: list[str] = Field(default_factory=lambda: ["HS256"])
    audience: str = "order-saga"
    issuer: str = "order-saga-dev"
    admin_role: str = "admin"
    customer_role: str = "customer"


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    max_items_per_order: int = Field(default=50, ge=1)
    max_quantity_per_item: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    idempotency_ttl_hours: int = Field(default=24, ge=24)


class TelemetrySettings(BaseModel):
    log_level: str = "INFO"
    log_json: bool = False
    # Prometheus /metrics for this process; 0 = off.
    metrics_port: int = 0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ORDERS_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    environment: Literal["dev", "test", "production"] = "dev"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    workers: WorkerSettings = Field(default_factory=WorkerSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    restock: RestockSettings = Field(default_factory=RestockSettings)
    payments: PaymentSettings = Field(default_factory=PaymentSettings)
    saga: SagaSettings = Field(default_factory=SagaSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)

    @model_validator(mode="before")
    @classmethod
    def _conventional_variables(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        shortcuts = (
            ("DATABASE_URL", "database", "url"),
            ("KAFKA_BOOTSTRAP_SERVERS", "kafka", "bootstrap_servers"),
        )
        for variable, section, field in shortcuts:
            value = os.environ.get(variable)
            if not value:
                continue
            current = data.get(section)
            if isinstance(current, BaseModel):
                current = current.model_dump()
            nested = dict(current or {})
            nested.setdefault(field, value)
            data[section] = nested
        return data

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Settings:
        uses_dev_secret = not self.auth.jwks_url and self.auth.jwt_secret == DEV_JWT_SECRET
        if self.environment == "production" and uses_dev_secret:
            raise ValueError(
                "production needs ORDERS_AUTH__JWKS_URL or a non-default ORDERS_AUTH__JWT_SECRET"
            )
        if self.environment == "production" and DEV_CODEC_KEY_ID in self.temporal.codec.keys:
            raise ValueError(
                "production needs its own ORDERS_TEMPORAL__CODEC__KEYS and "
                "ORDERS_TEMPORAL__CODEC__ACTIVE_KEY_ID (the dev key is public)"
            )
        return self


def load_settings(**overrides: Any) -> Settings:
    """Read the environment once; callers pass the result down instead of re-reading."""
    return Settings(**overrides)
