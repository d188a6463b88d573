"""Kafka TLS/SASL and PostgreSQL TLS settings: off in dev, passed to every client, and a
half-configured combination refuses to start naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import DatabaseSettings, KafkaSettings, Settings
from outbox.consumer import consumer_config
from outbox.publisher import producer_config

PG = "postgresql+psycopg://orders@db:5432/orders"


@pytest.fixture
def pem(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


def test_dev_defaults_add_nothing_to_the_clients() -> None:
    settings = Settings(_env_file=None)
    assert settings.kafka.client_config() == {"bootstrap.servers": ""}
    assert settings.database.tls_connect_args() == {}


def test_kafka_sasl_ssl_reaches_producer_admin_and_consumer(pem: str) -> None:
    kafka = KafkaSettings(
        bootstrap_servers="b1:9093",
        security_protocol="SASL_SSL",
        ssl_ca_location=pem,
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="relay",
        sasl_password="s3cret",
    )
    Settings(_env_file=None, kafka=kafka)  # accepted as a whole
    expected = {
        "bootstrap.servers": "b1:9093",
        "security.protocol": "sasl_ssl",
        "ssl.ca.location": pem,
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "relay",
        "sasl.password": "s3cret",
    }
    assert kafka.client_config() == expected
    assert expected.items() <= producer_config(kafka, 100).items()
    consumer = consumer_config(kafka.bootstrap_servers, "group", kafka.client_config())
    assert expected.items() <= consumer.items()


def test_postgres_tls_becomes_libpq_parameters(pem: str) -> None:
    database = DatabaseSettings(url=PG, sslmode="verify-full", sslrootcert=pem)
    assert database.tls_connect_args() == {"sslmode": "verify-full", "sslrootcert": pem}


@pytest.mark.parametrize(
    ("kafka", "named"),
    [
        ({"security_protocol": "SASL_SSL"}, "ORDERS_KAFKA__SASL_MECHANISM"),
        (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "PLAIN",
                "sasl_username": "u",
            },
            "ORDERS_KAFKA__SASL_PASSWORD",
        ),
        ({"sasl_username": "u", "sasl_password": "p"}, "does not use SASL"),
        ({"ssl_ca_location": "PEM"}, "does not use TLS"),
        ({"security_protocol": "SSL", "ssl_certificate_location": "PEM"}, "SSL_KEY_LOCATION"),
        ({"security_protocol": "SSL", "ssl_ca_location": "/nowhere/ca.pem"}, "no readable file"),
    ],
    ids=[
        "sasl-no-credentials",
        "sasl-no-password",
        "sasl-on-plaintext",
        "tls-files-on-plaintext",
        "cert-without-key",
        "missing-ca",
    ],
)
def test_half_configured_kafka_security_refuses_to_start(
    kafka: dict[str, str], named: str, pem: str
) -> None:
    fields = {k: pem if v == "PEM" else v for k, v in kafka.items()}
    with pytest.raises(ValidationError, match=named):
        Settings(_env_file=None, kafka=KafkaSettings(bootstrap_servers="b:9093", **fields))


@pytest.mark.parametrize(
    ("database", "named"),
    [
        ({"sslmode": "verify-full"}, "ORDERS_DATABASE__SSLROOTCERT"),
        ({"sslmode": "prefer", "sslrootcert": "PEM"}, "does not check the server"),
        ({"sslmode": "verify-ca", "sslrootcert": "PEM", "sslcert": "PEM"}, "SSLKEY go together"),
        ({"sslmode": "require", "sslrootcert": "/nowhere/ca.pem"}, "no readable file"),
        ({"url": "sqlite+aiosqlite:///x.db", "sslmode": "require"}, "not PostgreSQL"),
    ],
    ids=["verify-without-ca", "ca-not-checked", "cert-without-key", "missing-ca", "sqlite"],
)
def test_half_configured_postgres_tls_refuses_to_start(
    database: dict[str, str], named: str, pem: str
) -> None:
    fields = {"url": PG, **{k: pem if v == "PEM" else v for k, v in database.items()}}
    with pytest.raises(ValidationError, match=named):
        Settings(_env_file=None, database=DatabaseSettings(**fields))


def test_the_variables_are_named_as_documented(monkeypatch: pytest.MonkeyPatch, pem: str) -> None:
    monkeypatch.setenv("ORDERS_KAFKA__SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("ORDERS_KAFKA__SSL_CA_LOCATION", pem)
    monkeypatch.setenv("ORDERS_DATABASE__URL", PG)
    monkeypatch.setenv("ORDERS_DATABASE__SSLMODE", "verify-full")
    monkeypatch.setenv("ORDERS_DATABASE__SSLROOTCERT", pem)
    settings = Settings(_env_file=None)
    assert settings.kafka.client_config()["security.protocol"] == "ssl"
    assert settings.database.tls_connect_args()["sslmode"] == "verify-full"
