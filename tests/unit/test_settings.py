"""One Settings object, read from ORDERS_* variables with two conventional shortcuts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import DEV_JWT_SECRET, Settings


def test_nested_variables_use_double_underscores(monkeypatch: pytest.MonkeyPatch) -> None:
    """ORDERS_KAFKA__PARTITIONS reaches settings.kafka.partitions."""
    monkeypatch.setenv("ORDERS_KAFKA__PARTITIONS", "6")
    assert Settings().kafka.partitions == 6


def test_database_url_shortcut_picks_the_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """A platform's plain DATABASE_URL works and is switched to psycopg's async driver."""
    monkeypatch.delenv("ORDERS_DATABASE__URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/orders")
    settings = Settings()
    assert settings.database.url == "postgresql+psycopg://u:p@db:5432/orders"
    assert settings.database.is_postgres


def test_prefixed_variable_wins_over_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    """ORDERS_DATABASE__URL is more specific than DATABASE_URL."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db/a")
    monkeypatch.setenv("ORDERS_DATABASE__URL", "postgresql://u:p@db/b")
    assert Settings().database.url.endswith("/b")


def test_default_is_sqlite_and_no_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing set the service runs embedded: SQLite, relay off."""
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "ORDERS_DATABASE__URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ORDERS_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    settings = Settings(_env_file=None)
    assert settings.database.url.startswith("sqlite+aiosqlite://")
    assert not settings.kafka.enabled


def test_production_refuses_the_dev_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A production process will not start with the well-known dev signing secret."""
    monkeypatch.setenv("ORDERS_ENVIRONMENT", "production")
    monkeypatch.delenv("ORDERS_AUTH__JWT_SECRET", raising=False)
    with pytest.raises(ValidationError, match="JWKS_URL"):
        Settings()


PRODUCTION = {
    "ORDERS_ENVIRONMENT": "production",
    "ORDERS_AUTH__JWKS_URL": "https://id.example.com/jwks.json",
    "ORDERS_AUTH__ISSUER": "https://id.example.com/",
    "ORDERS_AUTH__AUDIENCE": "order-saga-api",
    "ORDERS_PAYMENTS__PROVIDER_URL": "http://payment-provider:8100",
}


def _environment(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    for name in [*PRODUCTION, "ORDERS_AUTH__ALGORITHMS", "ORDERS_AUTH__JWT_SECRET"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_production_accepts_a_jwks_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production with an identity provider's JWKS needs no shared secret."""
    _environment(monkeypatch, PRODUCTION)
    settings = Settings(_env_file=None)
    assert settings.auth.jwt_secret == DEV_JWT_SECRET
    assert settings.auth.jwks_url


def test_jwks_mode_defaults_to_asymmetric_algorithms(monkeypatch: pytest.MonkeyPatch) -> None:
    """With public keys the default is RS256 and ES256; with the dev secret, HS256."""
    _environment(monkeypatch, {"ORDERS_AUTH__JWKS_URL": "https://id.example.com/jwks.json"})
    assert Settings(_env_file=None).auth.usable_algorithms == ["RS256", "ES256"]
    _environment(monkeypatch, {})
    assert Settings(_env_file=None).auth.usable_algorithms == ["HS256"]


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        (
            {
                "ORDERS_AUTH__JWKS_URL": "https://id.example.com/jwks",
                "ORDERS_AUTH__ALGORITHMS": '["HS256"]',
            },
            "ORDERS_AUTH__ALGORITHMS",
        ),
        ({"ORDERS_AUTH__ALGORITHMS": '["RS256"]'}, "ORDERS_AUTH__ALGORITHMS"),
        ({"ORDERS_AUTH__ALGORITHMS": '["RS257"]'}, "unknown algorithms"),
    ],
    ids=["jwks-with-hmac-only", "secret-with-rsa-only", "unknown"],
)
def test_a_configuration_that_accepts_no_token_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    _environment(monkeypatch, variables)
    with pytest.raises(ValidationError, match=named):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("ORDERS_AUTH__ISSUER", "ORDERS_AUTH__ISSUER"),
        ("ORDERS_AUTH__AUDIENCE", "ORDERS_AUTH__AUDIENCE"),
        ("ORDERS_PAYMENTS__PROVIDER_URL", "ORDERS_PAYMENTS__PROVIDER_URL"),
    ],
)
def test_production_refuses_dev_defaults(
    monkeypatch: pytest.MonkeyPatch, missing: str, named: str
) -> None:
    """Without a real issuer, audience or a shared payment provider, production will not
    start, and the error names the setting."""
    _environment(monkeypatch, {k: v for k, v in PRODUCTION.items() if k != missing})
    with pytest.raises(ValidationError, match=named):
        Settings(_env_file=None)


def test_production_refuses_the_dev_issuer_even_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    _environment(monkeypatch, {**PRODUCTION, "ORDERS_AUTH__ISSUER": "order-saga-dev"})
    with pytest.raises(ValidationError, match="ORDERS_AUTH__ISSUER"):
        Settings(_env_file=None)
