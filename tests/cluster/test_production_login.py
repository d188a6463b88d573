"""``make dev ARGS=--production`` with Keycloak as its identity provider, run for real.

The stack of devstack/production.py -- Keycloak, the two-node mTLS cluster, the Web UI
signing people in at Keycloak, the codec endpoint over HTTPS, the API trusting the realm --
started once for the module. It prints Keycloak's address and the demo users; an order
placed with a token from ``python -m tools.token --user`` reaches CONFIRMED; tokens of a
disabled user or from another realm get nowhere; only staff (support, operator) may sign
in to the Web UI; and headless Chromium signs in through Keycloak's page: the operator
reads the parked order's input decoded, support staff see the same page without it, and
the operator's retry from the UI's dialog moves it on.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient

from devstack.keycloak_realm import DemoUser, demo_users
from devstack.process import ServiceUnavailableError
from devstack.production import ProductionOptions, ProductionStack
from tests.fixtures.keycloak import another_realm_token, token_tool
from tests.fixtures.services import service_unavailable
from tools.provider import switch_outage
from tools.screenshots.browser import Person, shoot
from tools.screenshots.pictures import ORDER, WebUIStage, take_pictures

USERS = {user.username: user for user in demo_users()}


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionStack]:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("ORDERS_"):
                patch.delenv(name)
        stack = ProductionStack(
            ProductionOptions(
                run_dir=tmp_path_factory.mktemp("production"),
                api_port=0,
                ui_port=0,
                keycloak_port=0,
                codec_port=0,
            )
        )
        # An outage parks an order within seconds instead of the default ten minutes.
        stack.stack.env["ORDERS_SAGA__CHARGE_BUDGET_SECONDS"] = "3"
        try:
            stack.start()
        except ServiceUnavailableError as exc:
            stack.stop()
            service_unavailable(str(exc))
        try:
            yield stack
        finally:
            stack.stop()


def token_of(production: ProductionStack, username: str) -> str:
    """A token by ``python -m tools.token --user``, as the banner says to get one."""
    done = token_tool(
        "--issuer",
        production.keycloak.issuer,
        "--user",
        username,
        env={"KEYCLOAK_PASSWORD": USERS[username].password},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_banner_names_keycloak_the_codec_and_every_demo_user(
    production: ProductionStack,
) -> None:
    banner = production.addresses() + production.people()
    assert production.keycloak.url in banner
    assert production.keycloak.issuer in banner
    assert production.codec_url in banner
    for user in demo_users():
        assert f"{user.username:<6} password {user.password}" in banner


def test_an_order_placed_with_a_keycloak_token_is_confirmed(production: ProductionStack) -> None:
    headers = {"Authorization": f"Bearer {token_of(production, 'alice')}"}
    api = production.stack.api_url
    placed = httpx.post(f"{api}/orders", json=ORDER, headers=headers, timeout=10)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    status = ""
    deadline = time.monotonic() + 60
    while status != "CONFIRMED" and time.monotonic() < deadline:
        status = httpx.get(f"{api}/orders/{order_id}", headers=headers, timeout=10).json()["status"]
        time.sleep(0.25)
    assert status == "CONFIRMED"


def test_events_go_to_three_brokers_with_every_partition_on_all_three(
    production: ProductionStack,
) -> None:
    """Production's replication (three copies), not the demo allowance's one broker."""
    assert production.kafka is not None
    admin = AdminClient({"bootstrap.servers": production.kafka.bootstrap_servers})
    metadata = admin.list_topics(timeout=30)
    assert len(metadata.brokers) == 3
    topic = "order-events"
    deadline = time.monotonic() + 60
    while topic not in metadata.topics and time.monotonic() < deadline:
        time.sleep(1)  # the relay creates the topics as it starts
        metadata = admin.list_topics(timeout=30)
    partitions = metadata.topics[topic].partitions.values()
    assert partitions
    assert all(len(partition.replicas) == 3 for partition in partitions)


def test_a_disabled_user_gets_no_token_and_another_realms_token_is_refused(
    production: ProductionStack,
) -> None:
    keycloak = production.keycloak
    name = f"gone-{uuid.uuid4().hex[:8]}"
    keycloak.create_user(DemoUser(name, "leaving-now", f"{name}@example.com", ("customer",)))
    keycloak.set_user_enabled(name, enabled=False)
    refused = token_tool(
        "--issuer",
        keycloak.issuer,
        "--user",
        name,
        env={"KEYCLOAK_PASSWORD": "leaving-now"},
    )
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert "disabled" in refused.stderr.lower()

    _, foreign = another_realm_token(keycloak)
    answer = httpx.get(
        f"{production.stack.api_url}/orders",
        headers={"Authorization": f"Bearer {foreign}"},
        timeout=10,
    )
    assert answer.status_code == 401


@pytest.mark.parametrize("username", ["alice", "cat"])
async def test_who_holds_neither_support_nor_operator_cannot_sign_in_to_the_web_ui(
    production: ProductionStack, tmp_path: Path, username: str
) -> None:
    """A customer, or the catalog admin, would see every order's id, customer and total in
    the UI's lists: Keycloak's flow for the UI's client refuses them at sign-in."""
    assert production.ui is not None
    said = await shoot(
        "refused",
        production.ui.url,
        tmp_path / f"{username}.png",
        "Access denied",
        person=Person(username, USERS[username].password),
    )
    assert "Access denied" in said
    assert "Workflows" not in said


async def test_an_operator_reads_the_parked_order_decoded_in_the_web_ui_and_retries_it(
    production: ProductionStack, tmp_path: Path
) -> None:
    assert production.ui is not None
    assert production.codec_tls is not None
    provider = production.stack.provider
    assert provider is not None
    alice = {"Authorization": f"Bearer {token_of(production, 'alice')}"}
    async with httpx.AsyncClient(base_url=production.stack.api_url, headers=alice) as http:
        stage = WebUIStage(
            production.ui.url,
            "orders",
            http,
            lambda on: switch_outage(provider.url, on, token=provider.token),
            Person("olga", USERS["olga"].password),
            Person("sam", USERS["sam"].password),
            USERS["alice"].email,
            production.codec_tls.spki_sha256,
        )
        seen = await take_pictures(stage, tmp_path)

    assert USERS["alice"].email in seen.details_as_operator
    assert seen.order_id[:8] in seen.details_as_support
    assert USERS["alice"].email not in seen.details_as_support
    assert "CONFIRMED" in seen.after_retry
    codec_log = (production.options.run_dir / "logs" / "codec.log").read_text()
    assert f"codec decode by {USERS['olga'].subject}" in codec_log
    assert f"codec decode by {USERS['sam'].subject}" not in codec_log
