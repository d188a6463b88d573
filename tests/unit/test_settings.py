"""One Settings object, read from ORDERS_* variables with two conventional shortcuts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.dev_defaults import DEV_JWT_SECRET
from config.settings import SagaSettings, Settings
from messages.saga import SagaPolicy
from tests.unit.production_env import DEMO, PRODUCTION_KEY, use_environment


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


# A demo deployment's production settings (the simulated provider among them), valid as
# they stand: each test takes one item away.
PRODUCTION = DEMO


def _environment(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    use_environment(monkeypatch, variables)


def test_production_accepts_a_jwks_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production with an identity provider's JWKS needs no shared secret."""
    _environment(monkeypatch, PRODUCTION)
    settings = Settings(_env_file=None)
    assert settings.auth.jwt_secret == DEV_JWT_SECRET
    assert settings.auth.jwks_url


def test_production_refuses_the_dev_codec_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dev payload key is public: a production process will not encrypt with it."""
    monkeypatch.setenv("ORDERS_ENVIRONMENT", "production")
    monkeypatch.setenv("ORDERS_AUTH__JWKS_URL", "https://id.example.com/jwks.json")
    with pytest.raises(ValidationError, match="ORDERS_TEMPORAL__CODEC__KEYS"):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    ("keys", "active", "named"),
    [
        ('{"k1": "not base64!"}', "k1", "is not base64"),
        ('{"k1": "c2hvcnQ="}', "k1", "AES key"),
        (f'{{"k1": "{PRODUCTION_KEY}"}}', "k2", "ACTIVE_KEY_ID"),
    ],
)
def test_unusable_codec_keys_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, keys: str, active: str, named: str
) -> None:
    monkeypatch.setenv("ORDERS_TEMPORAL__CODEC__KEYS", keys)
    monkeypatch.setenv("ORDERS_TEMPORAL__CODEC__ACTIVE_KEY_ID", active)
    with pytest.raises(ValidationError, match=named):
        Settings(_env_file=None)


def test_saga_budgets_are_settings_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """ORDERS_SAGA__CHARGE_BUDGET_SECONDS shortens the charge budget, as fault tests do."""
    monkeypatch.setenv("ORDERS_SAGA__CHARGE_BUDGET_SECONDS", "30")
    saga = Settings(_env_file=None).saga
    assert saga.charge_budget_seconds == 30
    assert saga.attention_hold_seconds == 24 * 3600
    assert saga.payment_action_timeout_seconds == 30 * 60


def test_a_saga_budget_of_zero_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A budget that cannot work stops the process at start, saying which setting."""
    monkeypatch.setenv("ORDERS_SAGA__ATTENTION_HOLD_SECONDS", "0")
    with pytest.raises(ValidationError, match="attention_hold_seconds"):
        Settings(_env_file=None)


def test_the_saga_input_carries_exactly_the_saga_settings() -> None:
    """SagaPolicy (what a saga is started with) and SagaSettings agree field by field, so
    the API hands every setting over and old inputs get today's defaults."""
    settings = SagaSettings()
    assert SagaPolicy(**settings.model_dump()).model_dump() == settings.model_dump()
    assert SagaPolicy().model_dump() == settings.model_dump()


def test_sdk_metrics_may_not_take_the_process_metrics_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two listeners cannot share a port: the worker would die at start, so Settings says
    which two settings collide instead."""
    monkeypatch.setenv("ORDERS_TELEMETRY__METRICS_PORT", "9464")
    monkeypatch.setenv("ORDERS_TEMPORAL__METRICS_BIND_ADDRESS", "0.0.0.0:9464")
    with pytest.raises(ValidationError, match="ORDERS_TEMPORAL__METRICS_BIND_ADDRESS"):
        Settings()
    monkeypatch.setenv("ORDERS_TEMPORAL__METRICS_BIND_ADDRESS", "0.0.0.0:9465")
    assert Settings().temporal.metrics_bind_address == "0.0.0.0:9465"


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ({}, "ORDERS_PAYMENTS__STRIPE_SECRET_KEY"),
        (
            {"ORDERS_PAYMENTS__STRIPE_SECRET_KEY": "sk_test_1"},
            "ORDERS_PAYMENTS__STRIPE_WEBHOOK_SECRET",
        ),
    ],
)
def test_stripe_without_its_secrets_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, present: dict[str, str], missing: str
) -> None:
    """provider=stripe with no key (or no webhook secret) cannot take money: the error names
    the variable to set."""
    monkeypatch.setenv("ORDERS_PAYMENTS__PROVIDER", "stripe")
    for name, value in present.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=missing):
        Settings()


def test_stripe_secrets_never_show_in_a_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key and the webhook secret are SecretStr: repr, str and logs see stars."""
    monkeypatch.setenv("ORDERS_PAYMENTS__PROVIDER", "stripe")
    monkeypatch.setenv("ORDERS_PAYMENTS__STRIPE_SECRET_KEY", "sk_test_do_not_print")
    monkeypatch.setenv("ORDERS_PAYMENTS__STRIPE_WEBHOOK_SECRET", "whsec_do_not_print")
    settings = Settings()
    shown = f"{settings!r} {settings} {settings.model_dump()}"
    assert "do_not_print" not in shown
    assert settings.payments.stripe_secret_key.get_secret_value() == "sk_test_do_not_print"


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
