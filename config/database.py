"""The database's settings (``ORDERS_DATABASE__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from config.dev_defaults import RUN_DIR


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
