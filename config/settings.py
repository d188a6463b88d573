"""The one Settings object, nested by concern, read from ``ORDERS_*`` variables.

Nested fields use ``__``: ``ORDERS_DATABASE__URL``, ``ORDERS_KAFKA__BOOTSTRAP_SERVERS``.
Two conventional shortcuts are honoured because every platform sets them:
``DATABASE_URL`` and ``KAFKA_BOOTSTRAP_SERVERS`` (the ``ORDERS_`` forms win).
Each concern's section lives in a module of its own beside this one (config/temporal.py,
config/kafka.py, …); they are named here too, so ``from config.settings import …`` finds
every one.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.api import ApiSettings, AuthSettings
from config.checks import refuse_unworkable
from config.database import DatabaseSettings
from config.kafka import ConsumerSettings, KafkaSettings, OutboxSettings
from config.saga import NotificationSettings, PaymentSettings, RestockSettings, SagaSettings
from config.telemetry import TelemetrySettings
from config.temporal import CodecSettings, TemporalSettings, WorkerSettings

__all__ = [
    "ApiSettings",
    "AuthSettings",
    "CodecSettings",
    "ConsumerSettings",
    "DatabaseSettings",
    "KafkaSettings",
    "NotificationSettings",
    "OutboxSettings",
    "PaymentSettings",
    "RestockSettings",
    "SagaSettings",
    "Settings",
    "TelemetrySettings",
    "TemporalSettings",
    "WorkerSettings",
    "load_settings",
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ORDERS_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    # The image sets it empty, so a container must say what it is: no silent dev default.
    environment: Literal["dev", "test", "production"] = "dev"
    # Production accepts the demo parts of config/demo_allowance.py (DEMO_ALLOWANCE), and
    # those only; every process logs a warning naming them at start.
    demo_allowance: bool = False
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

    @field_validator("environment", mode="before")
    @classmethod
    def _environment_named(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError(
                "ORDERS_ENVIRONMENT is empty: set it to dev, test or production (the image "
                "leaves it empty on purpose, so that no container runs as dev by mistake)"
            )
        return value

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
        refuse_unworkable(self)
        return self


def load_settings(**overrides: Any) -> Settings:
    """Read the environment once; callers pass the result down instead of re-reading."""
    return Settings(**overrides)
