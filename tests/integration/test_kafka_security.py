"""The relay's clients speak SASL_SSL when the settings say so: a real broker with a
SASL_SSL listener (PLAIN over TLS, a certificate from a throwaway CA) takes the relay's
events, and refuses a client with the wrong password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from config.settings import KafkaSettings
from devstack.kafka import KafkaBroker
from devstack.process import ServiceUnavailableError, free_port
from outbox.publisher import producer_config
from outbox.topics import ensure_topics
from tests.fixtures.services import service_unavailable
from tests.integration.tls_certs import ServerCertificate, issue

pytestmark = pytest.mark.integration

USER, PASSWORD = "relay", "relay-secret"


class SecuredKafkaBroker(KafkaBroker):
    """The project's broker with a second listener: SASL_SSL (PLAIN) with a PEM keystore."""

    def __init__(self, run_dir: Path, certificate: ServerCertificate) -> None:
        super().__init__(run_dir)
        self.secure_port = free_port()
        self.certificate = certificate

    def _write_config(self) -> None:
        super()._write_config()
        keystore = self.run_dir / "keystore.pem"
        keystore.write_text(
            self.certificate.key.read_text() + self.certificate.certificate.read_text()
        )
        jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_{USER}="{PASSWORD}";'
        )
        text = self.config_path.read_text()
        lines = []
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key in {"listeners", "advertised.listeners"}:
                value += f",SASL_SSL://127.0.0.1:{self.secure_port}"
            elif key == "listener.security.protocol.map":
                value += ",SASL_SSL:SASL_SSL"
            lines.append(f"{key}={value}" if _ else line)
        lines += [
            "sasl.enabled.mechanisms=PLAIN",
            f"listener.name.sasl_ssl.plain.sasl.jaas.config={jaas}",
            "listener.name.sasl_ssl.ssl.keystore.type=PEM",
            f"listener.name.sasl_ssl.ssl.keystore.location={keystore}",
        ]
        self.config_path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> ServerCertificate:
    return issue(tmp_path_factory.mktemp("kafka-tls"), "kafka")


@pytest.fixture(scope="module")
def broker(
    tmp_path_factory: pytest.TempPathFactory, certificate: ServerCertificate
) -> Iterator[SecuredKafkaBroker]:
    secured = SecuredKafkaBroker(tmp_path_factory.mktemp("kafka-secured"), certificate)
    try:
        secured.start()
    except ServiceUnavailableError as exc:
        secured.stop()
        service_unavailable(f"Kafka broker unavailable: {exc}")
    yield secured
    secured.stop()


def _settings(broker: SecuredKafkaBroker, ca: Path, password: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{broker.secure_port}",
        order_topic=f"secured-orders-{free_port()}",
        security_protocol="SASL_SSL",
        ssl_ca_location=str(ca),
        sasl_mechanism="PLAIN",
        sasl_username=USER,
        sasl_password=password,
    )


def _refusal(kafka: KafkaSettings) -> str:
    """What the client was told when its metadata request failed."""
    errors: list[str] = []
    config: dict[str, Any] = {**kafka.client_config(), "log_level": 0}
    config["error_cb"] = lambda error: errors.append(str(error))
    admin = AdminClient(config)
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=10)
    admin.poll(0)  # deliver the error callbacks
    return "\n".join(errors)


def test_the_relay_clients_publish_over_sasl_ssl(
    broker: SecuredKafkaBroker, certificate: ServerCertificate
) -> None:
    kafka = _settings(broker, certificate.ca, PASSWORD)
    created = ensure_topics(AdminClient(kafka.client_config()), kafka)
    assert kafka.order_topic in created
    producer = Producer(producer_config(kafka, 10))  # the relay's producer configuration
    delivered: list[object] = []
    producer.produce(
        kafka.order_topic, key=b"k", value=b"v", on_delivery=lambda e, _: delivered.append(e)
    )
    assert producer.flush(30) == 0
    assert delivered == [None]


def test_a_wrong_password_is_refused(
    broker: SecuredKafkaBroker, certificate: ServerCertificate
) -> None:
    kafka = _settings(broker, certificate.ca, "wrong")
    assert "Authentication failed" in _refusal(kafka)


def test_a_broker_certificate_from_another_ca_is_refused(
    broker: SecuredKafkaBroker, tmp_path: Path
) -> None:
    stranger = issue(tmp_path, "stranger")
    kafka = _settings(broker, stranger.ca, PASSWORD)
    assert "certificate verify failed" in _refusal(kafka)
