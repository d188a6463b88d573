"""A production configuration that passes every check, for tests that change one item.

``VALID`` runs no demo part; ``DEMO`` is what a demo deployment sets: the allowance and
the three parts it permits. Both are environments, read as a process reads them.
"""

from __future__ import annotations

import os

import pytest

from config.settings import Settings

PRODUCTION_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
VALID = {
    "ORDERS_ENVIRONMENT": "production",
    "ORDERS_TEMPORAL__CODEC__KEYS": f'{{"k1": "{PRODUCTION_KEY}"}}',
    "ORDERS_TEMPORAL__CODEC__ACTIVE_KEY_ID": "k1",
    "ORDERS_AUTH__JWKS_URL": "https://id.example.com/jwks.json",
    "ORDERS_AUTH__ISSUER": "https://id.example.com/",
    "ORDERS_AUTH__AUDIENCE": "order-saga-api",
    "ORDERS_DATABASE__URL": "postgresql://orders:pw@db.example.com:5432/orders",
    "ORDERS_TEMPORAL__ADDRESS": "temporal-frontend.example.com:7233",
    "ORDERS_TEMPORAL__TLS": "true",
    "ORDERS_TEMPORAL__NAMESPACE": "orders",
    "ORDERS_KAFKA__BOOTSTRAP_SERVERS": "kafka.example.com:9092",
    "ORDERS_KAFKA__REPLICATION_FACTOR": "3",
    "ORDERS_NOTIFICATIONS__CHANNEL": "smtp",
    "ORDERS_PAYMENTS__PROVIDER": "stripe",
    "ORDERS_PAYMENTS__STRIPE_SECRET_KEY": "sk_test_example",
    "ORDERS_PAYMENTS__STRIPE_WEBHOOK_SECRET": "whsec_example",
}
DEMO = {
    **VALID,
    "ORDERS_DEMO_ALLOWANCE": "true",
    "ORDERS_PAYMENTS__PROVIDER": "simulated",
    "ORDERS_PAYMENTS__PROVIDER_URL": "http://payment-provider:8100",
    "ORDERS_PAYMENTS__PROVIDER_TOKEN": "a-token-of-the-deployment",
    "ORDERS_NOTIFICATIONS__CHANNEL": "log",
    "ORDERS_KAFKA__REPLICATION_FACTOR": "1",
}


def use_environment(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> None:
    """Exactly ``variables``: none of the ORDERS_* (or shortcut) variables of this shell."""
    for name in list(os.environ):
        if name.startswith("ORDERS_") or name in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}:
            monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def settings_from(monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> Settings:
    use_environment(monkeypatch, variables)
    return Settings(_env_file=None)
