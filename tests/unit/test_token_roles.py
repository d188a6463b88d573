"""Roles as Keycloak issues them: realm roles in ``realm_access``, each client's roles under
``resource_access.<client>``, and the local issuer's top-level ``roles``; and what each role
may do (least privilege: no role holds every power)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from api.auth import Principal, RoleNames, TokenVerifier, roles_of
from api.problems import ProblemError
from config.settings import AuthSettings

API_CLIENT = "order-saga-api"


def keycloak_claims(**extra: Any) -> dict[str, Any]:
    """An access token's claims as Keycloak 26 shapes them (audience mapper for the API)."""
    return {
        "sub": "3f1c9d2e-7b7a-4c55-9e61-0a4d1f2b8c10",
        "aud": [API_CLIENT, "account"],
        "azp": "order-saga-cli",
        "typ": "Bearer",
        "preferred_username": "olga",
        "email": "olga@example.com",
        "email_verified": True,
        "scope": "openid profile email",
        "realm_access": {"roles": ["default-roles-orders", "offline_access", "operator"]},
        "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
        **extra,
    }


def test_realm_roles_count() -> None:
    assert "operator" in roles_of(keycloak_claims(), API_CLIENT)


def test_the_api_clients_roles_count_and_another_clients_do_not() -> None:
    """A role granted on the API's client counts; one on another client (Keycloak lists
    every client the user has roles in) is that client's business, not the API's."""
    claims = keycloak_claims(
        realm_access={"roles": ["default-roles-orders"]},
        resource_access={
            API_CLIENT: {"roles": ["support"]},
            "temporal-ui": {"roles": ["operator"]},
        },
    )
    assert roles_of(claims, API_CLIENT) == {"default-roles-orders", "support"}


def test_the_local_issuers_top_level_roles_count() -> None:
    assert roles_of({"roles": ["customer"]}, API_CLIENT) == {"customer"}


def test_a_token_without_roles_has_none() -> None:
    assert roles_of({"sub": "x"}, API_CLIENT) == frozenset()


@pytest.mark.parametrize(
    "claims",
    [
        {"roles": "operator"},
        {"realm_access": ["operator"]},
        {"realm_access": {"roles": "operator"}},
        {"resource_access": {API_CLIENT: ["operator"]}},
        {"resource_access": {API_CLIENT: {"roles": "operator"}}},
    ],
)
def test_roles_in_an_unexpected_shape_are_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        roles_of(claims, API_CLIENT)


def _signed(auth: AuthSettings, claims: dict[str, Any]) -> str:
    now = datetime.now(UTC)
    full = {"iss": auth.issuer, "iat": now, "exp": now + timedelta(minutes=5), **claims}
    return jwt.encode(full, auth.jwt_secret, algorithm="HS256")


async def test_the_verifier_reads_a_keycloak_token_for_the_api_client() -> None:
    """The audience names the API's client, whose roles count (no client id set)."""
    auth = AuthSettings(audience=API_CLIENT)
    claims = keycloak_claims(resource_access={API_CLIENT: {"roles": ["catalog-admin"]}})
    principal = await TokenVerifier(auth).verify(_signed(auth, claims))
    assert principal.roles >= {"operator", "catalog-admin"}
    assert (principal.is_operator, principal.is_catalog_admin) == (True, True)
    assert principal.email == "olga@example.com"


async def test_a_client_id_setting_names_whose_client_roles_count() -> None:
    auth = AuthSettings(audience="account", client_id=API_CLIENT)
    claims = keycloak_claims(
        aud="account",
        realm_access={"roles": []},
        resource_access={API_CLIENT: {"roles": ["support"]}},
    )
    principal = await TokenVerifier(auth).verify(_signed(auth, claims))
    assert principal.roles == {"support"}


async def test_a_token_whose_roles_are_malformed_is_401() -> None:
    auth = AuthSettings(audience=API_CLIENT)
    token = _signed(auth, keycloak_claims(realm_access={"roles": "operator"}))
    with pytest.raises(ProblemError) as refused:
        await TokenVerifier(auth).verify(token)
    assert refused.value.status == 401


async def test_renamed_roles_are_the_ones_that_count() -> None:
    auth = AuthSettings(audience=API_CLIENT, operator_role="order-ops")
    claims = keycloak_claims(realm_access={"roles": ["order-ops"]})
    principal = await TokenVerifier(auth).verify(_signed(auth, claims))
    assert principal.is_operator


def _principal(*roles: str, subject: str = "alice") -> Principal:
    return Principal(subject=subject, roles=frozenset(roles), email=None, names=RoleNames())


def test_a_customer_sees_and_changes_its_own_orders_only() -> None:
    alice = _principal("customer")
    assert (alice.may_see("alice"), alice.may_change("alice")) == (True, True)
    assert (alice.may_see("bob"), alice.may_change("bob")) == (False, False)


def test_support_reads_every_order_and_changes_none() -> None:
    sam = _principal("support", subject="sam")
    assert (sam.may_see("alice"), sam.may_change("alice")) == (True, False)


def test_an_operator_reads_and_changes_every_order() -> None:
    olga = _principal("operator", subject="olga")
    assert (olga.may_see("alice"), olga.may_change("alice")) == (True, True)
    assert olga.actor_on("alice").role == "operator"


def test_a_catalog_admin_touches_no_order() -> None:
    cat = _principal("catalog-admin", subject="cat")
    assert (cat.may_see("cat"), cat.may_see("alice"), cat.may_change("alice")) == (False,) * 3


def test_a_customer_acting_on_its_order_acts_as_the_customer() -> None:
    both = _principal("customer", "operator")
    assert both.actor_on("alice").role == "customer"
    assert both.actor_on("bob").role == "operator"
