"""The one Settings object, nested by concern, read from ``ORDERS_*`` variables.

Nested fields use ``__``: ``ORDERS_DATABASE__URL``, ``ORDERS_KAFKA__BOOTSTRAP_SERVERS``.
Two conventional shortcuts are honoured because every platform sets them:
``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` (the ``ORDERS_`` forms win).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Only for dev tokens; production refuses to start with it (see the validator below).
DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105
RUN_DIR = Path(".run")
_HOST_PORT = re.compile(r"[A-Za-z0-9_.\-\[\]:]+:\d{1,5}")
# The dev token issuer and audience: production must name its identity provider's.
DEV_ISSUER = "order-saga-dev"
DEV_AUDIENCE = "order-saga"
JWKS_ALGORITHMS = ("RS256", "ES256")
SECRET_ALGORITHMS = ("HS256",)
# Only for dev and tests: payloads it encrypts are as good as clear to anyone with this file.
# Production refuses to start with it (see the validator below).
DEV_CODEC_KEY_ID = "dev"
DEV_CODEC_KEY = "ZGV2LW9ubHktY29kZWMta2V5LW5vdC1hLXNlY3JldCE="
# The example key in deploy/k8s/configmap.yaml's Secret and the compose file: as public as
# the dev key, so production refuses it too; a deployment puts its own there.
EXAMPLE_CODEC_KEY = "7FzS5W2wrOfwWnMZIhdXmN4vov5rrvT6Bg9ITwtzSiA="


class DatabaseSettings(BaseModel):
    # SQLite keeps the zero-setup dev mode; PostgreSQL is the production store.
    url: str = f"sqlite+aiosqlite:///{RUN_DIR}/orders.db"
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    echo: bool = False
    # TLS to PostgreSQL (libpq's parameters; all empty in dev = the driver's defaults).
    # verify-full with the server's CA is what production wants.
    sslmode: Literal["", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = ""
    sslrootcert: str = ""  # CA file the server's certificate must chain to
    sslcert: str = ""  # client certificate, when the server asks for one
    sslkey: str = ""

    def tls_connect_args(self) -> dict[str, str]:
        """The libpq TLS parameters that are set, for every PostgreSQL connection we open."""
        fields = ("sslmode", "sslrootcert", "sslcert", "sslkey")
        return {name: getattr(self, name) for name in fields if getattr(self, name)}

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


class WorkerSettings(BaseModel):
    """Per-queue concurrency, so each pool is sized for the work it does."""

    orders_max_concurrent_workflow_tasks: int = Field(default=100, ge=1)
    inventory_max_concurrent_activities: int = Field(default=100, ge=1)
    payments_max_concurrent_activities: int = Field(default=100, ge=1)
    notifications_max_concurrent_activities: int = Field(default=100, ge=1)
    graceful_shutdown_seconds: float = Field(default=10.0, ge=0)
    # False: the orders worker runs the SDK's own sandboxed runner (workers/sandbox.py).
    lean_workflow_runner: bool = True


# Our field -> librdkafka's configuration property.
_KAFKA_SECURITY_NAMES = {
    "ssl_ca_location": "ssl.ca.location",
    "ssl_certificate_location": "ssl.certificate.location",
    "ssl_key_location": "ssl.key.location",
    "ssl_key_password": "ssl.key.password",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_username": "sasl.username",
    "sasl_password": "sasl.password",
}


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
    # TLS and SASL to the brokers (librdkafka's names; PLAINTEXT and nothing else in dev).
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    ssl_ca_location: str = ""  # CA file for the brokers' certificates
    ssl_certificate_location: str = ""  # client certificate (mutual TLS)
    ssl_key_location: str = ""
    ssl_key_password: str = ""
    sasl_mechanism: Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = ""
    sasl_username: str = ""
    sasl_password: str = ""
    # Set when the relay (or a consumer, for its dead-letter topics) creates a topic; an
    # existing topic keeps its configuration. See docs/events.md, "Retention and compaction".
    retention_days: int = Field(default=30, ge=1)
    dead_letter_retention_days: int = Field(default=90, ge=1)
    dead_letter_suffix: str = Field(default=".dlq", min_length=1)

    @property
    def enabled(self) -> bool:
        return bool(self.bootstrap_servers)

    def client_config(self) -> dict[str, str | int | float | bool]:
        """``bootstrap.servers`` and the security settings, for every client we build."""
        config: dict[str, str | int | float | bool] = {"bootstrap.servers": self.bootstrap_servers}
        if self.security_protocol != "PLAINTEXT":
            config["security.protocol"] = self.security_protocol.lower()
        for field, name in _KAFKA_SECURITY_NAMES.items():
            if getattr(self, field):
                config[name] = getattr(self, field)
        return config

    @model_validator(mode="after")
    def _dead_letters_outlive_events(self) -> KafkaSettings:
        if self.dead_letter_retention_days < self.retention_days:
            raise ValueError(
                "ORDERS_KAFKA__DEAD_LETTER_RETENTION_DAYS must be at least "
                "ORDERS_KAFKA__RETENTION_DAYS: a parked message must outlive the events "
                "around it, or it cannot be re-driven after the fix"
            )
        return self


class ConsumerSettings(BaseModel):
    """The reference consumer (``python -m consumers.order_history``)."""

    # The inbox's consumer name and the default Kafka consumer group.
    name: str = Field(default="order-history", min_length=1)
    group_id: str = ""  # empty = ``name``
    # Empty = the order, inventory and payment topics of the Kafka settings.
    topics: list[str] = Field(default_factory=list)
    poll_seconds: float = Field(default=1.0, gt=0)
    max_messages_per_poll: int = Field(default=100, ge=1)
    # A handler that raises is retried this many times in all (backoff doubling from
    # retry_backoff_seconds up to retry_backoff_max_seconds), then the message is parked
    # in <topic><dead_letter_suffix> ("dead_letter") or the consumer exits ("stop").
    max_attempts: int = Field(default=5, ge=1)
    retry_backoff_seconds: float = Field(default=0.5, gt=0)
    retry_backoff_max_seconds: float = Field(default=30.0, gt=0)
    on_exhausted: Literal["dead_letter", "stop"] = "dead_letter"
    # How soon the group gives a crashed member's partitions to the others (Kafka's
    # default is 45 s). Heartbeats come from the client's own thread, so a busy handler
    # does not count against it.
    session_timeout_seconds: float = Field(default=10.0, ge=6, le=300)
    # Prometheus /metrics (consumer_lag_messages, consumer_messages_total); 0 = off.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    lag_interval_seconds: float = Field(default=5.0, gt=0)

    @property
    def group(self) -> str:
        return self.group_id or self.name

    @model_validator(mode="after")
    def _backoff_bounds(self) -> ConsumerSettings:
        if self.retry_backoff_max_seconds < self.retry_backoff_seconds:
            raise ValueError(
                "ORDERS_CONSUMER__RETRY_BACKOFF_MAX_SECONDS must be at least "
                "ORDERS_CONSUMER__RETRY_BACKOFF_SECONDS"
            )
        return self


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
    # The shared simulated provider service (``python -m provider``), e.g.
    # ``http://payment-provider:8100``: every worker calls the one provider over HTTP.
    # Production needs it (or a real provider); empty = the in-process simulation below.
    provider_url: str = ""
    # How long a call may take before its outcome counts as unknown (retried, same key).
    provider_timeout_seconds: float = Field(default=10.0, gt=0)
    # Without provider_url: the in-process simulation's ledger, a SQLite file standing for
    # the provider's own database (every process on the file shares one provider); empty =
    # each process keeps its own ledger in memory (unit tests only). The provider service
    # keeps its ledger in this file too when started without --ledger.
    simulated_ledger_path: str = ""
    # Which provider takes the money: the simulation, or Stripe (PaymentIntents).
    provider: Literal["simulated", "stripe"] = "simulated"
    # Stripe's secret API key (sk_test_… / sk_live_…, or a restricted rk_… key).
    stripe_secret_key: SecretStr = SecretStr("")
    # Where the SDK sends its requests; empty = Stripe's own API. Tests point it at a double.
    stripe_api_base: str = ""
    # The signing secret of the webhook endpoint (whsec_…) that POST /webhooks/stripe checks.
    stripe_webhook_secret: SecretStr = SecretStr("")
    # Where Stripe sends the customer back after 3-D Secure; with it the next action is a
    # redirect URL, without it the intent's client secret for Stripe.js to handle.
    stripe_return_url: str = ""

    @model_validator(mode="after")
    def _stripe_needs_its_secrets(self) -> PaymentSettings:
        if self.provider == "stripe":
            for variable, secret in (
                ("ORDERS_PAYMENTS__STRIPE_SECRET_KEY", self.stripe_secret_key),
                ("ORDERS_PAYMENTS__STRIPE_WEBHOOK_SECRET", self.stripe_webhook_secret),
            ):
                if not secret.get_secret_value():
                    raise ValueError(f"ORDERS_PAYMENTS__PROVIDER=stripe needs {variable}")
        return self


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
    # Unset: RS256 and ES256 with a JWKS (public keys), HS256 with the shared secret.
    algorithms: list[str] = Field(default_factory=list)
    audience: str = DEV_AUDIENCE
    issuer: str = DEV_ISSUER
    admin_role: str = "admin"
    customer_role: str = "customer"

    @model_validator(mode="after")
    def _algorithms_for_the_key_source(self) -> AuthSettings:
        if not self.algorithms:
            self.algorithms = list(JWKS_ALGORITHMS if self.jwks_url else SECRET_ALGORITHMS)
        return self

    @property
    def usable_algorithms(self) -> list[str]:
        """The algorithms a token may be signed with here. With a JWKS no HMAC algorithm:
        one would let a token be "signed" with the public key (algorithm confusion)."""
        if self.jwks_url:
            return [name for name in self.algorithms if not name.upper().startswith("HS")]
        return [name for name in self.algorithms if name.upper().startswith("HS")]


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    max_items_per_order: int = Field(default=50, ge=1)
    max_quantity_per_item: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    idempotency_ttl_hours: int = Field(default=24, ge=24)
    # How long each API process reuses a product's price read from the catalog: a price
    # changed in the database reaches new orders within this time (api/services/catalog.py).
    # 0 = read the catalog for every order.
    catalog_cache_seconds: float = Field(default=10.0, ge=0)


class TelemetrySettings(BaseModel):
    log_level: str = "INFO"
    log_json: bool = False
    # Prometheus /metrics for this process; 0 = off.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # How often the API re-counts gauges read from the database (orders needing attention).
    sample_interval_seconds: float = Field(default=15.0, gt=0)
    # /healthz (live) and /readyz (ready) of a worker or relay process; 0 = off.
    probe_port: int = Field(default=0, ge=0, le=65535)
    probe_host: str = "127.0.0.1"


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
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
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
    def _metrics_ports_differ(self) -> Settings:
        sdk = self.temporal.metrics_bind_address
        port = self.telemetry.metrics_port
        if sdk and port and sdk.rpartition(":")[2] == str(port):
            raise ValueError(
                f"ORDERS_TEMPORAL__METRICS_BIND_ADDRESS ({sdk}) and "
                f"ORDERS_TELEMETRY__METRICS_PORT ({port}) name the same port; the SDK's "
                "metrics need a listener of their own"
            )
        return self

    @model_validator(mode="after")
    def _refuse_what_cannot_work(self) -> Settings:
        # Imported here: the checks read these models' fields.
        from config.checks import refuse_unworkable  # noqa: PLC0415

        refuse_unworkable(self)
        return self


def load_settings(**overrides: Any) -> Settings:
    """Read the environment once; callers pass the result down instead of re-reading."""
    return Settings(**overrides)
