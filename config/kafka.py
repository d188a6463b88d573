"""Kafka's settings and those of the two sides around it: the outbox relay that
publishes and the reference consumer (``ORDERS_KAFKA__*``, ``ORDERS_OUTBOX__*``,
``ORDERS_CONSUMER__*``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

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


class OutboxSettings(BaseModel):
    batch_size: int = Field(default=500, ge=1)
    poll_interval_seconds: float = Field(default=0.2, gt=0)
