"""``python -m tools.token`` run as an operator runs it, against the session's real Keycloak:
a person's token by the password grant, a service client's by client credentials, each
verified by the API's own verifier; a refused grant and an unreachable issuer exit 1 with
the reason on stderr and nothing on stdout (so ``$(…)`` never takes an error for a token)."""

from __future__ import annotations

import uuid

import pytest

from api.auth import Principal, TokenVerifier
from devstack.keycloak import Keycloak
from devstack.keycloak_realm import AUTOMATION_CLIENT, DemoUser, client_secret, demo_users
from devstack.process import free_port
from tests.fixtures.keycloak import token_tool

pytestmark = pytest.mark.integration

OLGA = next(user for user in demo_users() if user.username == "olga")


async def verified(keycloak: Keycloak, token: str) -> Principal:
    return await TokenVerifier(keycloak.auth_settings()).verify(token)


async def test_an_operator_logs_in_with_the_issuer_of_the_api_settings(
    keycloak: Keycloak,
) -> None:
    """The settings the API runs with (JWKS URL and issuer) are enough: no --issuer, and the
    JWKS URL that refuses a dev token does not stand in a real token's way."""
    done = token_tool(
        "--user", "olga", env={**keycloak.settings_env(), "KEYCLOAK_PASSWORD": OLGA.password}
    )

    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert done.stdout == f"{token}\n"  # the token alone, as $(…) takes it
    principal = await verified(keycloak, token)
    assert principal.is_operator
    assert (principal.subject, principal.email) == (OLGA.subject, OLGA.email)


def test_a_wrong_password_exits_1_with_keycloaks_reason_and_prints_no_token(
    keycloak: Keycloak,
) -> None:
    done = token_tool(
        "--user",
        "olga",
        "--issuer",
        keycloak.issuer,
        env={"KEYCLOAK_PASSWORD": OLGA.password + "-wrong"},
    )

    assert done.returncode == 1
    assert done.stdout == ""
    assert "invalid_grant" in done.stderr
    assert "Invalid user credentials" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_disabled_user_is_told_the_account_is_disabled(keycloak: Keycloak) -> None:
    name = f"left-{uuid.uuid4().hex[:8]}"
    keycloak.create_user(DemoUser(name, "was-staff", f"{name}@example.com", ("operator",)))
    keycloak.set_user_enabled(name, enabled=False)

    done = token_tool(
        "--user", name, "--issuer", keycloak.issuer, env={"KEYCLOAK_PASSWORD": "was-staff"}
    )

    assert (done.returncode, done.stdout) == (1, "")
    assert "disabled" in done.stderr.lower()
    assert repr(name) in done.stderr


async def test_a_service_client_gets_a_support_token_by_client_credentials(
    keycloak: Keycloak,
) -> None:
    done = token_tool(
        "--client-credentials",
        AUTOMATION_CLIENT,
        "--issuer",
        keycloak.issuer,
        env={"KEYCLOAK_CLIENT_SECRET": client_secret(AUTOMATION_CLIENT)},
    )

    assert done.returncode == 0, done.stderr
    principal = await verified(keycloak, done.stdout.strip())
    assert principal.reads_every_order
    assert not principal.is_operator


def test_an_unreachable_issuer_exits_1_naming_its_token_endpoint() -> None:
    issuer = f"http://127.0.0.1:{free_port()}/realms/orders"

    done = token_tool("--user", "olga", "--issuer", issuer, env={"KEYCLOAK_PASSWORD": "x"})

    assert (done.returncode, done.stdout) == (1, "")
    assert f"{issuer}/protocol/openid-connect/token" in done.stderr
    assert "Traceback" not in done.stderr
