"""Who may do what: bearer tokens checked as a resource server, and roles on every route.

401 for a missing or bad token (with an RFC 6750 challenge), 403 for a role that may not
act, 404 (never 403) for another customer's order, support reading and operators acting on
any order. The full matrix of roles and endpoints is in test_roles.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from temporalio.client import Client

from api.auth import TokenVerifier
from api.problems import ProblemError
from config.settings import AuthSettings, TemporalSettings
from devstack.tokens import mint_token
from tests.e2e.harness import TERMINAL, Api, running_api


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    pg_url: str, temporal_settings: TemporalSettings, temporal_client: Client
) -> AsyncIterator[Api]:
    # A slow gateway keeps each saga cancellable for a while after it is placed.
    async with running_api(pg_url, temporal_settings, temporal_client, 2000) as running:
        yield running


def _bad_token(auth: AuthSettings, case: str) -> str:
    if case == "expired":
        return mint_token(auth, "alice", "customer", expires_in=timedelta(minutes=-5))
    if case == "wrong signature":
        forged = auth.model_copy(update={"jwt_secret": "another-secret-0123456789abcdef012345"})
        return mint_token(forged, "alice", "customer")
    if case == "wrong audience":
        return mint_token(auth.model_copy(update={"audience": "billing"}), "alice", "customer")
    if case == "wrong issuer":
        return mint_token(auth.model_copy(update={"issuer": "evil-idp"}), "alice", "customer")
    if case == "unsigned":
        claims: dict[str, object] = {
            "sub": "alice",
            "roles": ["customer"],
            "aud": auth.audience,
            "iss": auth.issuer,
            "exp": datetime.now(UTC) + timedelta(hours=1),
        }
        return jwt.encode(claims, key="", algorithm="none")
    assert case == "garbage"
    return "not-a-jwt"


@pytest.mark.parametrize(
    "case",
    ["expired", "wrong signature", "wrong audience", "wrong issuer", "unsigned", "garbage"],
)
async def test_bad_tokens_are_401_with_an_invalid_token_challenge(api: Api, case: str) -> None:
    """Signature, exp, aud and iss are all checked; the challenge says invalid_token."""
    token = _bad_token(api.settings.auth, case)
    response = await api.http.get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge


async def test_no_token_is_401_with_a_bare_challenge(api: Api) -> None:
    """Without credentials the challenge names the scheme only (RFC 6750 §3.1)."""
    for headers in ({}, {"Authorization": "Basic YWxpY2U6cHc="}):
        response = await api.http.get("/orders", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="order-saga"'
        assert response.json()["title"] == "Unauthorized"


async def test_a_token_without_a_known_role_is_403(api: Api) -> None:
    """Authenticated but with none of the API's roles: forbidden, not unauthorized."""
    response = await api.http.get("/orders", headers=api.auth("mallory", role="auditor"))
    assert response.status_code == 403


async def test_customers_cannot_read_or_cancel_anothers_order(api: Api) -> None:
    """Another customer's order answers 404 everywhere, so its existence does not leak."""
    order_id = (await api.place("alice")).json()["order_id"]
    bob = api.auth("bob")
    assert (await api.http.get(f"/orders/{order_id}", headers=bob)).status_code == 404
    assert (await api.http.get(f"/orders/{order_id}/events", headers=bob)).status_code == 404
    cancel = await api.http.post(f"/orders/{order_id}/cancel", headers=bob)
    assert cancel.status_code == 404
    listing = await api.http.get("/orders", params={"customer_id": "alice"}, headers=bob)
    assert listing.status_code == 403
    # Bob's attempt changed nothing: Alice's order still completes.
    assert (await api.wait_for(order_id, "alice", TERMINAL))["status"] == "CONFIRMED"


async def test_customers_cannot_manage_products(api: Api) -> None:
    """Creating products and restocking are the catalog admins': 403 for a customer."""
    customer = api.auth("alice")
    product = {"id": "sku-new", "name": "New", "unit_price": "1.00", "currency": "EUR"}
    assert (await api.http.post("/products", json=product, headers=customer)).status_code == 403
    restock = await api.http.put(
        "/products/sku-beans/stock", json={"add_quantity": 5}, headers=customer
    )
    assert restock.status_code == 403
    assert 'error="insufficient_scope"' in restock.headers["WWW-Authenticate"]
    assert (await api.http.get("/products", headers=customer)).status_code == 200


async def test_support_reads_and_lists_any_order_and_operators_cancel_it(api: Api) -> None:
    """Support reads customers' orders and lists everyone's but may not cancel (403); an
    operator cancels, and the order ends CANCELLED."""
    order_id = (await api.place("alice")).json()["order_id"]
    support = api.auth("sam", role=api.settings.auth.support_role)
    read = await api.http.get(f"/orders/{order_id}", headers=support)
    assert read.status_code == 200
    assert read.json()["customer_id"] == "alice"
    # The list reads the orders table, which the saga's first step writes after the 202.
    listed: list[str] = []
    for _ in range(150):
        listing = await api.http.get("/orders", params={"customer_id": "alice"}, headers=support)
        listed = [order["order_id"] for order in listing.json()["data"]]
        if listed:
            break
        await asyncio.sleep(0.1)
    assert listed == [order_id]
    refused = await api.http.post(f"/orders/{order_id}/cancel", headers=support)
    assert refused.status_code == 403

    operator = api.auth("olga", role=api.settings.auth.operator_role)
    cancel = await api.http.post(
        f"/orders/{order_id}/cancel", json={"reason": "fraud check"}, headers=operator
    )
    assert cancel.status_code == 202, cancel.text
    assert (await api.wait_for(order_id, "alice", TERMINAL))["status"] == "CANCELLED"


@contextlib.contextmanager
def serving_jwks(document: Mapping[str, object]) -> Iterator[str]:
    """An identity provider's JWKS endpoint on a free local port."""
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass  # keep the test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


async def test_jwks_keys_verify_rs256_tokens_and_refuse_an_hmac_forgery() -> None:
    """With a JWKS URL (production) tokens are checked against the provider's public keys;
    an HS256 token keyed with the public key (algorithm confusion) is refused."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    document = {"keys": [jwk | {"kid": "k1", "alg": "RS256", "use": "sig"}]}
    with serving_jwks(document) as url:
        auth = AuthSettings(jwks_url=url, algorithms=["RS256", "HS256"])
        await _verify_with_jwks(auth, private_key)


async def _verify_with_jwks(auth: AuthSettings, private_key: rsa.RSAPrivateKey) -> None:
    claims = {
        "sub": "alice",
        "roles": ["customer"],
        "aud": auth.audience,
        "iss": auth.issuer,
        "exp": datetime.now(UTC) + timedelta(minutes=5),
    }
    verifier = TokenVerifier(auth)
    token = jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": "k1"})
    principal = await verifier.verify(token)
    assert (principal.subject, principal.roles) == ("alice", frozenset({"customer"}))

    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = hmac_token(claims, public_pem, kid="k1")
    with pytest.raises(ProblemError) as refused:
        await verifier.verify(forged)
    assert refused.value.status == 401


def hmac_token(claims: dict[str, object], secret: bytes, kid: str) -> str:
    """HS256 by hand: PyJWT itself refuses to use a PEM public key as an HMAC secret."""

    def part(value: object) -> str:
        raw = json.dumps(value, default=lambda moment: int(moment.timestamp())).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{part(claims)}"
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"
