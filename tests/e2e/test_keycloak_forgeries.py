"""Forged tokens against the real Keycloak's keys, each refused by the API over HTTP: 401
with the ``invalid_token`` challenge.

Every forgery carries exactly the claims of a real token Keycloak issued to alice, with one
thing changed. The forgeries of a claim (expired, wrong audience, wrong issuer, no exp) are
signed by an RSA key of this module's own that the realm publishes in its JWKS; a control
signed by that key with the claims unchanged is accepted, so those 401s come from the
claim and not from the signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from temporalio.client import Client

from config.dev_defaults import DEV_JWT_SECRET
from config.settings import TemporalSettings
from devstack.keycloak import Keycloak
from devstack.keycloak_realm import demo_users
from tests.e2e.harness import Api, running_api

# Below the generated key's 100: Keycloak keeps signing with its own key.
OWN_KEY_PRIORITY = 10
ALICE = next(user for user in demo_users() if user.username == "alice")


@dataclass(frozen=True)
class Keys:
    """The realm's active signing key as its JWKS publishes it, and a key of this module's
    own that the realm publishes too (under ``own_kid``)."""

    active: dict[str, Any]
    own: rsa.RSAPrivateKey
    own_kid: str


@dataclass(frozen=True)
class Material:
    """What a forger starts from: a real token of alice's taken apart, and the keys."""

    header: dict[str, Any]
    claims: dict[str, Any]
    keys: Keys
    issuer: str

    def own_signed(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self.keys.own, algorithm="RS256", headers={"kid": self.keys.own_kid}
        )


Forge = Callable[[Material], str]


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys(keycloak: Keycloak) -> Iterator[Keys]:
    own = new_rsa_key()
    pem = own.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    provider = keycloak.import_rsa_key(
        pem, priority=OWN_KEY_PRIORITY, name=f"forgeries-{uuid.uuid4().hex[:8]}"
    )
    try:
        published = keycloak.jwks()["keys"]
        modulus = RSAAlgorithm.to_jwk(own.public_key(), as_dict=True)["n"]
        [own_kid] = [key["kid"] for key in published if key.get("n") == modulus]
        signing = jwt.get_unverified_header(keycloak.access_token(ALICE.username, ALICE.password))
        [active] = [key for key in published if key["kid"] == signing["kid"]]
        assert active["kid"] != own_kid  # Keycloak still signs with its own key
        yield Keys(active, own, own_kid)
    finally:
        keycloak.remove_component(provider)


@pytest.fixture
def material(keycloak: Keycloak, keys: Keys) -> Material:
    token = keycloak.access_token(ALICE.username, ALICE.password)
    claims = jwt.decode(token, options={"verify_signature": False})
    return Material(jwt.get_unverified_header(token), claims, keys, keycloak.issuer)


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    pg_url: str,
    temporal_settings: TemporalSettings,
    temporal_client: Client,
    keycloak: Keycloak,
    keys: Keys,
) -> AsyncIterator[Api]:
    # `keys` first: the API's JWKS client refreshes on an unknown kid at most every 30 s
    # after a fetch (PyJWT's cooldown), so the own key is published before its first fetch.
    auth = keycloak.auth_settings()
    async with running_api(
        pg_url, temporal_settings, temporal_client, activities=False, auth=auth
    ) as running:
        yield running


def by_hand(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A compact JWS built without PyJWT, which refuses to key HMAC with a public key:
    HS256 with ``secret``, or unsigned without one."""

    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    signing_input = f"{part(header)}.{part(claims)}"
    if secret is None:
        return f"{signing_input}."
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


def hs256_keyed_with(secret_of: Callable[[dict[str, Any]], bytes]) -> Forge:
    """HS256 under the kid of Keycloak's active key, keyed with ``secret_of`` that key."""

    def forge(real: Material) -> str:
        header = real.header | {"alg": "HS256"}
        return by_hand(header, real.claims, secret_of(real.keys.active))

    return forge


def public_pem(jwk: dict[str, Any]) -> bytes:
    public = RSAAlgorithm.from_jwk(jwk)
    assert isinstance(public, rsa.RSAPublicKey)
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def unknown_key_under(kid_of: Callable[[Material], str]) -> Forge:
    """RS256 by a key the realm never had, under ``kid_of``."""

    def forge(real: Material) -> str:
        return jwt.encode(
            real.claims, new_rsa_key(), algorithm="RS256", headers={"kid": kid_of(real)}
        )

    return forge


def own_signed_with(claim: str, value: Callable[[Material], object] | None) -> Forge:
    """The real claims with ``claim`` set to ``value`` (or removed), signed by the own key."""

    def forge(real: Material) -> str:
        claims = dict(real.claims)
        if value is None:
            del claims[claim]
        else:
            claims[claim] = value(real)
        return real.own_signed(claims)

    return forge


# (case, how it is forged, the refusal's detail)
FORGERIES: list[tuple[str, Forge, str]] = [
    (
        "alg none",
        lambda real: by_hand(real.header | {"alg": "none"}, real.claims, None),
        "The token is malformed",
    ),
    (
        "HS256 keyed with Keycloak's public key as PEM",
        hs256_keyed_with(public_pem),
        "The token is malformed",
    ),
    (
        "HS256 keyed with Keycloak's JWK as published",
        hs256_keyed_with(lambda jwk: json.dumps(jwk).encode()),
        "The token is malformed",
    ),
    (
        "HS256 keyed with the dev secret",
        hs256_keyed_with(lambda _: DEV_JWT_SECRET.encode()),
        "The token is malformed",
    ),
    (
        "another key under the kid of Keycloak's active key",
        unknown_key_under(lambda real: str(real.keys.active["kid"])),
        "The token signature does not verify",
    ),
    (
        "expired",
        # Well past the API's 30 s leeway.
        own_signed_with("exp", lambda _: int(time.time()) - 600),
        "The token has expired",
    ),
    (
        "wrong audience",
        # What a client without the realm's audience mapper for the API gets.
        own_signed_with("aud", lambda _: "account"),
        "The token is not meant for this service",
    ),
    (
        "wrong issuer: another realm",
        own_signed_with("iss", lambda real: real.issuer.removesuffix("/orders") + "/elsewhere"),
        "The token comes from an untrusted issuer",
    ),
    (
        "wrong issuer: localhost for 127.0.0.1",
        own_signed_with("iss", lambda real: real.issuer.replace("127.0.0.1", "localhost")),
        "The token comes from an untrusted issuer",
    ),
    ("no exp", own_signed_with("exp", None), "The token lacks a required claim"),
    (
        "unknown kid",
        unknown_key_under(lambda _: f"unknown-{uuid.uuid4().hex}"),
        "The token is not signed by a known key",
    ),
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("forge", "detail"), [pytest.param(forge, detail, id=case) for case, forge, detail in FORGERIES]
)
async def test_a_forged_token_is_401_with_an_invalid_token_challenge(
    api: Api, material: Material, forge: Forge, detail: str
) -> None:
    response = await api.http.get("/orders", headers=bearer(forge(material)))

    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert response.json()["detail"] == detail


async def test_the_own_key_signing_a_real_tokens_claims_is_accepted(
    api: Api, material: Material
) -> None:
    """The control: the claim forgeries are signed like this, so their 401 is the claim's."""
    token = material.own_signed(material.claims)

    # Only alice herself, as a customer, may list alice's orders.
    response = await api.http.get(
        "/orders", params={"customer_id": ALICE.subject}, headers=bearer(token)
    )

    assert response.status_code == 200, response.text
