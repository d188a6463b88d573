"""The dev/test Kafka broker is a real Apache Kafka broker that keeps its data.

Run with ``-p tests.fixtures.kafka`` (the plugin that provides ``kafka_broker``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from devstack.kafka import KafkaBroker
from tests.fixtures.kafka import consume_all
from tests.fixtures.services import service_unavailable

pytestmark = pytest.mark.integration

KEY = b"order-42"
VALUE = b'{"type":"OrderCreated","order_id":"42"}'
# from the beginning, one message, exit at the end, quiet, as a JSON envelope
KCAT_READ_ONE = ("-o", "beginning", "-c", "1", "-e", "-q", "-J")
HEADERS: list[tuple[str, bytes]] = [("ce_type", b"order.created"), ("ce_id", b"evt-1")]


def _create_topic(bootstrap: str, partitions: int = 1) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=30)
    return name


def _produce_one(bootstrap: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    delivered: list[str | None] = []

    def on_delivery(err: object, _msg: object) -> None:
        delivered.append(None if err is None else str(err))

    headers: list[tuple[str, str | bytes | None]] = list(HEADERS)
    producer.produce(topic, key=KEY, value=VALUE, headers=headers, on_delivery=on_delivery)
    assert producer.flush(30) == 0, "message not delivered within 30 s"
    assert delivered == [None]


def test_produced_message_is_consumed_back_with_key_value_and_headers(
    kafka_broker: KafkaBroker,
) -> None:
    """A message sent by an idempotent acks=all producer to a topic made with AdminClient
    comes back from the broker with the same key, value and headers."""
    topic = _create_topic(kafka_broker.bootstrap_servers)
    _produce_one(kafka_broker.bootstrap_servers, topic)

    messages = consume_all(kafka_broker.bootstrap_servers, topic, expected=1, timeout=30)

    assert len(messages) == 1
    msg = messages[0]
    assert msg.topic() == topic
    assert msg.key() == KEY
    assert msg.value() == VALUE
    assert msg.headers() == HEADERS


def test_message_is_visible_to_an_independent_client_kcat(kafka_broker: KafkaBroker) -> None:
    """The message is really stored on a Kafka broker: Debian's kcat, a separate program,
    reads the same key, value and headers from the topic."""
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        service_unavailable("kcat not on PATH (Debian: apt-get install -y kcat)")
    topic = _create_topic(kafka_broker.bootstrap_servers)
    _produce_one(kafka_broker.bootstrap_servers, topic)

    done = subprocess.run(
        [kcat, "-C", "-b", kafka_broker.bootstrap_servers, "-t", topic, *KCAT_READ_ONE],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    record = json.loads(done.stdout.strip().splitlines()[0])
    assert record["topic"] == topic
    assert record["key"] == KEY.decode()
    assert record["payload"] == VALUE.decode()
    assert record["headers"] == [part for name, value in HEADERS for part in (name, value.decode())]


def test_restart_keeps_acknowledged_messages(kafka_broker: KafkaBroker) -> None:
    """A message acknowledged before a stop/start of the broker (same port, same data dir)
    is still there afterwards, and the broker accepts new messages on the same address."""
    topic = _create_topic(kafka_broker.bootstrap_servers)
    _produce_one(kafka_broker.bootstrap_servers, topic)
    address_before = kafka_broker.bootstrap_servers
    pid_before = kafka_broker.pid

    kafka_broker.restart()

    assert kafka_broker.bootstrap_servers == address_before
    assert kafka_broker.pid != pid_before
    _produce_one(kafka_broker.bootstrap_servers, topic)
    messages = consume_all(kafka_broker.bootstrap_servers, topic, expected=2, timeout=30)
    assert [(m.key(), m.value(), m.headers()) for m in messages] == [(KEY, VALUE, HEADERS)] * 2


def test_crash_restart_keeps_acknowledged_messages(kafka_broker: KafkaBroker) -> None:
    """After a SIGKILL (a crash: no controlled shutdown) the broker starts again on the same
    port, recovers its log and still serves the message acknowledged before the crash."""
    topic = _create_topic(kafka_broker.bootstrap_servers)
    _produce_one(kafka_broker.bootstrap_servers, topic)

    kafka_broker.kill()
    assert not kafka_broker.alive()
    kafka_broker.start()

    messages = consume_all(kafka_broker.bootstrap_servers, topic, expected=1, timeout=30)
    assert [(m.key(), m.value(), m.headers()) for m in messages] == [(KEY, VALUE, HEADERS)]
