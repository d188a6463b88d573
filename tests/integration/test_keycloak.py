"""Keycloak as the identity provider, on the real server the devstack starts: the tokens its
realm ``orders`` issues to each demo user, a service client, a disabled user and another
realm, and the API's token verifier against its JWKS."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jwt
import pytest

from api.auth import TokenVerifier
from api.problems import ProblemError
from config.settings import load_settings
from devstack.keycloak import Keycloak
from devstack.keycloak_client import TokenRefusedError
from devstack.keycloak_realm import (
    API_AUDIENCE,
    AUTOMATION_CLIENT,
    CLI_CLIENT,
    UI_CLIENT,
    DemoUser,
    demo_users,
)
from tests.fixtures.keycloak import another_realm_token

pytestmark = pytest.mark.integration

PROJECT_ROLES = {"customer", "support", "operator", "catalog-admin"}
# The realm file's access token lifespan: a disabled user keeps a token at most this long.
MAX_LIFESPAN_SECONDS = 300


def verified_claims(keycloak: Keycloak, token: str) -> dict[str, Any]:
    """The token's claims once its signature (realm JWKS), issuer and audience verify."""
    key = jwt.PyJWKClient(keycloak.jwks_url).get_signing_key_from_jwt(token).key
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["RS256"], audience=API_AUDIENCE, issuer=keycloak.issuer
    )
    return claims


def audiences(claims: dict[str, Any]) -> set[str]:
    aud = claims["aud"]
    return {aud} if isinstance(aud, str) else set(aud)


def authorization_url(keycloak: Keycloak, redirect_uri: str) -> str:
    """The Web UI client's login page, as a browser is sent to it (code flow; a PKCE
    challenge is accepted but not required: the UI server sends none)."""
    params = {
        "client_id": UI_CLIENT,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "openid",
        "state": "s",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    return str(httpx.URL(f"{keycloak.issuer}/protocol/openid-connect/auth", params=params))


def api_verifier(keycloak: Keycloak, monkeypatch: pytest.MonkeyPatch) -> TokenVerifier:
    """The API's verifier configured as a stack configures it: from Keycloak's settings_env."""
    for name, value in keycloak.settings_env().items():
        monkeypatch.setenv(name, value)
    return TokenVerifier(load_settings().auth)


@pytest.mark.parametrize("user", demo_users(), ids=lambda user: user.username)
def test_each_demo_user_gets_a_token_with_exactly_its_roles_the_api_audience_and_its_email(
    keycloak: Keycloak, user: DemoUser
) -> None:
    claims = verified_claims(keycloak, keycloak.access_token(user.username, user.password))

    assert claims["iss"] == f"http://127.0.0.1:{keycloak.port}/realms/orders"
    assert API_AUDIENCE in audiences(claims)
    assert set(claims["realm_access"]["roles"]) & PROJECT_ROLES == set(user.roles)
    assert claims["email"] == user.email
    assert claims["sub"] == user.subject
    assert claims["azp"] == CLI_CLIENT
    assert 0 < claims["exp"] - claims["iat"] <= MAX_LIFESPAN_SECONDS


def test_the_demo_users_cover_each_project_role_once(keycloak: Keycloak) -> None:
    roles = [role for user in demo_users() for role in user.roles]

    assert sorted(roles) == sorted(PROJECT_ROLES)


def test_the_issuer_stays_the_configured_address_when_a_client_says_localhost(
    keycloak: Keycloak,
) -> None:
    """The API compares `iss` exactly; Keycloak would otherwise echo the host it was asked."""
    user = demo_users()[0]
    form = {
        "grant_type": "password",
        "client_id": CLI_CLIENT,
        "username": user.username,
        "password": user.password,
    }
    via_localhost = keycloak.token_url.replace("127.0.0.1", "localhost")
    answer = httpx.post(via_localhost, data=form, timeout=30)
    answer.raise_for_status()

    assert verified_claims(keycloak, answer.json()["access_token"])["iss"] == keycloak.issuer


@pytest.mark.parametrize("port", [8080, 51234])
def test_the_web_ui_client_may_return_to_a_loopback_callback_on_any_port(
    keycloak: Keycloak, port: int
) -> None:
    """The Web UI runs on a free port: the realm's `http://127.0.0.1/*` must match it."""
    login = httpx.get(
        authorization_url(keycloak, f"http://127.0.0.1:{port}/auth/sso/callback"), timeout=30
    )

    assert login.status_code == 200
    assert 'name="username"' in login.text


def test_the_web_ui_client_refuses_a_callback_elsewhere(keycloak: Keycloak) -> None:
    login = httpx.get(authorization_url(keycloak, "http://evil.example/callback"), timeout=30)

    assert login.status_code == 400
    assert "redirect_uri" in login.text


def test_a_wrong_password_gets_no_token(keycloak: Keycloak) -> None:
    user = demo_users()[0]

    with pytest.raises(TokenRefusedError) as refused:
        keycloak.access_token(user.username, user.password + "-wrong")

    assert refused.value.error == "invalid_grant"


def test_the_automation_client_gets_a_read_only_token_without_a_person(
    keycloak: Keycloak,
) -> None:
    answer = keycloak.client_credentials_grant()
    claims = verified_claims(keycloak, answer["access_token"])

    assert claims["azp"] == AUTOMATION_CLIENT
    assert set(claims["realm_access"]["roles"]) & PROJECT_ROLES == {"support"}
    assert "email" not in claims


@pytest.mark.parametrize("username", [user.username for user in demo_users()])
async def test_the_api_verifier_reads_a_keycloak_token_subject_email_and_realm_roles(
    keycloak: Keycloak, monkeypatch: pytest.MonkeyPatch, username: str
) -> None:
    user = next(user for user in demo_users() if user.username == username)
    token = keycloak.access_token(user.username, user.password)

    principal = await api_verifier(keycloak, monkeypatch).verify(token)

    assert principal.subject == verified_claims(keycloak, token)["sub"]
    assert principal.email == user.email
    # Keycloak puts realm roles in realm_access, not in a top-level claim.
    assert principal.roles & PROJECT_ROLES == set(user.roles)


async def test_a_disabled_user_gets_no_new_token_and_the_last_one_expires_within_minutes(
    keycloak: Keycloak,
) -> None:
    name = f"gone-{uuid.uuid4().hex[:8]}"
    user = DemoUser(name, "leaving-soon", f"{name}@example.com", ("customer",))
    keycloak.create_user(user)
    last = verified_claims(keycloak, keycloak.access_token(user.username, user.password))

    keycloak.set_user_enabled(user.username, enabled=False)

    with pytest.raises(TokenRefusedError) as refused:
        keycloak.access_token(user.username, user.password)
    assert refused.value.error == "invalid_grant"
    assert "disabled" in refused.value.description.lower()
    assert last["exp"] - last["iat"] <= MAX_LIFESPAN_SECONDS


async def test_a_token_from_another_realm_has_another_issuer_and_the_api_refuses_it(
    keycloak: Keycloak, monkeypatch: pytest.MonkeyPatch
) -> None:
    realm, token = another_realm_token(keycloak)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == keycloak.issuer_for(realm) != keycloak.issuer
    assert API_AUDIENCE in audiences(claims)
    assert "customer" in claims["realm_access"]["roles"]

    with pytest.raises(ProblemError) as refused:
        await api_verifier(keycloak, monkeypatch).verify(token)

    assert refused.value.status == 401
