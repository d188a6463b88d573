"""Least privilege, with the real app, workers, Temporal and Keycloak: each role against each
endpoint and the codec, with the realm's real tokens. Every refusal is 403, except another
customer's order, which answers 404 (its existence does not leak); every allowance is 2xx.

The callers: the realm's demo users alice (customer), sam (support), olga (operator) and cat
(catalog-admin); bob, a second customer added to the realm; and the automation client, a
service without a person whose client-credentials token carries support.

Also: an operator's retry through the API names the verified subject (Keycloak's ``sub``), and
a customer's notices go to the e-mail its token verified.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from api.services.workflows import OrderWorkflows
from config.settings import SagaSettings, TemporalSettings
from devstack.keycloak import Keycloak
from devstack.keycloak_realm import DemoUser, demo_users
from messages.queues import TaskQueues, order_workflow_id
from persistence.event_store import load_timeline
from tests.e2e.harness import TERMINAL, Api, running_api
from tests.e2e.keycloak_tokens import MARGIN_SECONDS, KeycloakTokens

# A charge that fails for 2 s parks the order (NEEDS_ATTENTION) for an operator.
SHORT = SagaSettings(charge_budget_seconds=2)
# Who calls, in which role (automation is a client, no person); alice owns every order
# below, bob is another customer.
PEOPLE = {
    "alice": "customer",
    "bob": "customer",
    "sam": "support",
    "olga": "operator",
    "cat": "catalog-admin",
    "automation": "support",
}
REALM_USERS = {user.username: user for user in demo_users()}
ALICE, OLGA = REALM_USERS["alice"], REALM_USERS["olga"]
ORDER = {
    "items": [{"product_id": "sku-mug", "quantity": 1}],
    "payment": {"method": "card", "token": "tok_visa"},
}


class Callers:
    """``(caller, role) -> access token`` from the realm for each caller of ``PEOPLE``."""

    def __init__(self, keycloak: Keycloak) -> None:
        self.keycloak = keycloak
        self.people = KeycloakTokens(keycloak)
        # The session's realm is shared with other modules: bob gets a username of his own.
        name = f"bob-{uuid.uuid4().hex[:8]}"
        self.bob = DemoUser(name, f"{name}-password", f"{name}@example.com", ("customer",))
        self.people.add(self.bob)
        self._automation: tuple[str, float] | None = None

    def __call__(self, caller: str, role: str) -> str:
        if caller == "automation":
            return self.automation()
        return self.people(self.bob.username if caller == "bob" else caller, role)

    def automation(self) -> str:
        if self._automation is None or self._automation[1] - MARGIN_SECONDS < time.monotonic():
            answer = self.keycloak.client_credentials_grant()
            expiry = time.monotonic() + float(answer["expires_in"])
            self._automation = (str(answer["access_token"]), expiry)
        return self._automation[0]


@pytest.fixture(scope="module")
def callers(keycloak: Keycloak) -> Callers:
    return Callers(keycloak)


def headers(api: Api, subject: str) -> dict[str, str]:
    return api.auth(subject, PEOPLE[subject])


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    pg_url: str,
    temporal_settings: TemporalSettings,
    temporal_client: Client,
    keycloak: Keycloak,
    callers: Callers,
) -> AsyncIterator[Api]:
    auth = keycloak.auth_settings()
    async with running_api(
        pg_url, temporal_settings, temporal_client, saga=SHORT, auth=auth, tokens=callers
    ) as running:
        yield running


async def placed(api: Api, status: str) -> str:
    response = await api.http.post("/orders", json=ORDER, headers=headers(api, "alice"))
    assert response.status_code == 202, response.text
    order_id: str = response.json()["order_id"]
    await api.wait_for(order_id, "alice", {status})
    return order_id


async def recorded_confirmed(api: Api, order_id: str) -> None:
    """Until the read model (which a refund checks) has the order CONFIRMED."""
    for _ in range(100):
        order = await api.wait_for(order_id, "alice", {"CONFIRMED"})
        if order["source"] == "read_model":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{order_id} never recorded as CONFIRMED")


async def codec_body(client: Client, order_id: str) -> dict[str, Any]:
    history = await client.get_workflow_handle(order_workflow_id(order_id)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return json_format.MessageToDict(Payloads(payloads=started.input.payloads))


async def test_each_role_against_each_endpoint_and_the_codec(
    api: Api, temporal_client: Client
) -> None:
    confirmed = await placed(api, "CONFIRMED")
    await recorded_confirmed(api, confirmed)
    api.gateway.outage(True)
    # Parked orders: two to cancel (alice's own cancel, an operator's), one to retry.
    for_alice, for_olga, to_retry = [await placed(api, "NEEDS_ATTENTION") for _ in range(3)]
    api.gateway.outage(False)
    encrypted = await codec_body(temporal_client, confirmed)
    product = {"id": "sku-matrix", "name": "Matrix", "unit_price": "1.00", "currency": "EUR"}
    cancel_target = {"alice": for_alice, "olga": for_olga}
    readers = {"sam": 200, "olga": 200, "automation": 200}  # support and operator

    # (method, path, body, the status each caller gets; people left out get 403)
    matrix: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
        ("GET", "/products", None, dict.fromkeys(PEOPLE, 200)),
        ("GET", "/orders", None, {"alice": 200, "bob": 200} | readers),
        ("GET", f"/orders?customer_id={ALICE.subject}", None, {"alice": 200} | readers),
        ("GET", f"/orders/{confirmed}", None, {"alice": 200, "bob": 404} | readers),
        ("GET", f"/orders/{confirmed}/events", None, {"alice": 200, "bob": 404} | readers),
        ("POST", "/orders", ORDER, {"alice": 202, "bob": 202, "olga": 202}),
        ("POST", "/orders/{cancel}/cancel", {}, {"alice": 202, "bob": 404, "olga": 202}),
        ("POST", f"/orders/{to_retry}/retry", {"note": "provider back"}, {"olga": 202}),
        ("POST", f"/orders/{confirmed}/refund", {"reason": "returned"}, {"olga": 202}),
        ("POST", "/products", product, {"cat": 201}),
        ("PUT", "/products/sku-mug/stock", {"add_quantity": 1}, {"cat": 200}),
        ("GET", "/maintenance", None, readers),
        ("PUT", "/maintenance", {"active": False}, {"olga": 200}),
        ("POST", "/codec/decode", encrypted, {"olga": 200}),
    ]
    seen: list[tuple[str, str, int]] = []
    for method, path, body, allowed in matrix:
        # Refusals first: they must change nothing the allowances then act on.
        for subject in sorted(PEOPLE, key=lambda who: allowed.get(who, 403) < 300):
            url = path.replace("{cancel}", cancel_target.get(subject, for_alice))
            response = await api.http.request(method, url, json=body, headers=headers(api, subject))
            seen.append((f"{method} {path}", subject, response.status_code))
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json"
    expected = [
        (f"{method} {path}", subject, allowed.get(subject, 403))
        for method, path, body, allowed in matrix
        for subject in sorted(PEOPLE, key=lambda who: allowed.get(who, 403) < 300)
    ]
    assert seen == expected
    decodes = [status for call, who, status in seen if call == "POST /codec/decode"]
    assert decodes.count(200) == 1  # no role but operator decodes
    # The allowances took effect: the cancels, the retry and the refund.
    assert (await api.wait_for(for_alice, "alice", TERMINAL))["status"] == "CANCELLED"
    assert (await api.wait_for(for_olga, "alice", TERMINAL))["status"] == "CANCELLED"
    assert (await api.wait_for(to_retry, "alice", TERMINAL))["status"] == "CONFIRMED"
    assert (await api.wait_for(confirmed, "alice", {"REFUNDED"}))["status"] == "REFUNDED"


async def test_an_operators_retry_names_the_verified_subject_and_a_second_is_409(
    api: Api,
) -> None:
    api.gateway.outage(True)
    order_id = await placed(api, "NEEDS_ATTENTION")
    api.gateway.outage(False)
    olga = headers(api, "olga")
    retried = await api.http.post(f"/orders/{order_id}/retry", headers=olga)
    assert retried.status_code == 202, retried.text
    assert retried.json()["detail"] == "retrying"
    assert retried.headers["Location"] == f"/orders/{order_id}"
    await api.wait_for(order_id, "alice", {"CONFIRMED"})

    again = await api.http.post(f"/orders/{order_id}/retry", headers=olga)
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/retry-refused"
    unknown = await api.http.post(
        "/orders/00000000-0000-4000-8000-000000000000/retry", headers=olga
    )
    assert unknown.status_code == 404
    async with api.sessions() as session:
        events = await load_timeline(session, order_id)
    [resumed] = [event for event in events if event.event_type == "OrderRetried"]
    # Verified: a user acting as operator, not a name declared in a signal's input.
    assert resumed.actor == {"kind": "user", "subject": OLGA.subject, "role": "operator"}


async def notices_address(client: Client, order_id: str) -> str:
    saga = await OrderWorkflows(client, TaskQueues()).saga_input(order_id)
    assert saga is not None
    return saga.order.customer_email


async def test_a_customers_notices_go_to_the_e_mail_its_token_verified(
    api: Api, temporal_client: Client
) -> None:
    """Another address in the body is refused (422, naming the field) unless the caller is
    an operator; the token's own address, in any case, is accepted."""
    alice, olga = headers(api, "alice"), headers(api, "olga")
    elsewhere = await api.http.post(
        "/orders", json=ORDER | {"email": "mallory@example.com"}, headers=alice
    )
    assert elsewhere.status_code == 422
    [field] = elsewhere.json()["errors"]
    assert (field["pointer"], field["type"]) == ("#/email", "email_not_verified")

    own = await api.http.post("/orders", json=ORDER | {"email": ALICE.email.upper()}, headers=alice)
    plain = await api.http.post("/orders", json=ORDER, headers=alice)
    by_operator = await api.http.post(
        "/orders", json=ORDER | {"email": "customer-care@example.com"}, headers=olga
    )
    for response in (own, plain, by_operator):
        assert response.status_code == 202, response.text
    assert await notices_address(temporal_client, own.json()["order_id"]) == ALICE.email
    assert await notices_address(temporal_client, plain.json()["order_id"]) == ALICE.email
    assert (
        await notices_address(temporal_client, by_operator.json()["order_id"])
        == "customer-care@example.com"
    )
